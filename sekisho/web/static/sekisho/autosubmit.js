// Submits the SAML HTTP-POST binding form (saml-bindings §3.5.4); the button is the no-JS path.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form[data-autosubmit='true']");
  if (form) { form.submit(); }
});
