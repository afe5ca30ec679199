// WebAuthn ceremonies for Sekisho's pages (WebAuthn L3 §5.1.3 create, §5.1.4 get).
//
// A form marked data-webauthn="create" | "get" | "passkey" runs the ceremony when it is
// submitted, puts the credential's JSON (PublicKeyCredential.toJSON(), §5.1.8) in its
// hidden "credential" input and submits itself. Options come from the page
// (<script type="application/json" id="webauthn-options">) or, for passkey sign-in, from
// data-options-url. Kept in a file because the CSP allows no inline script.
(function () {
  "use strict";
  if (window.sekishoWebAuthn) { return; }
  window.sekishoWebAuthn = true;

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "===".slice((base64.length + 3) % 4);
    var binary = window.atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return window.btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return Object.assign({}, d, { id: toBytes(d.id) });
    });
  }

  // Browsers without parse*OptionsFromJSON (Safari < 18, Firefox < 119) get the bytes decoded here.
  function creationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials)
    });
  }

  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      allowCredentials: descriptors(json.allowCredentials)
    });
  }

  // The same JSON as toJSON(), written out for browsers (and password managers) without it.
  function manualJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults
        ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      out.response.userHandle = response.userHandle ? toText(response.userHandle) : null;
    }
    return out;
  }

  function serialise(credential) {
    if (typeof credential.toJSON === "function") {
      try { return credential.toJSON(); } catch (ignored) { /* fall back below */ }
    }
    return manualJSON(credential);
  }

  function show(form, name, text) {
    var messages = form.querySelectorAll("[data-webauthn-message]");
    if (!form.querySelector("[data-webauthn-message='" + name + "']")) { name = "failed"; }
    for (var i = 0; i < messages.length; i++) {
      var element = messages[i];
      var match = element.getAttribute("data-webauthn-message") === name;
      if (match && text) { element.textContent = text; }
      element.hidden = !match;
    }
  }

  function busy(form, on) {
    var button = form.querySelector("button[type=submit]");
    if (!button) { return; }
    button.disabled = on;
    if (!on && button.getAttribute("data-retry-label")) {
      button.textContent = button.getAttribute("data-retry-label");
    }
  }

  function optionsFor(form) {
    var url = form.getAttribute("data-options-url");
    if (!url) {
      var element = document.getElementById("webauthn-options");
      return Promise.resolve(JSON.parse(element.textContent));
    }
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok || !body.options) {
            var refused = new Error(body.error || "");
            refused.name = "SekishoRefused";
            throw refused;
          }
          return body.options;
        });
      });
  }

  function messageFor(error, mode) {
    var name = error && error.name;
    if (name === "SekishoRefused") { return "server"; }
    // The person closed the prompt, or it timed out: the browser does not say which.
    if (name === "NotAllowedError" || name === "AbortError") { return "cancelled"; }
    if (name === "InvalidStateError" && mode === "create") { return "exists"; }
    if (name === "NotSupportedError" || name === "SecurityError") { return "unsupported"; }
    return "failed";
  }

  function run(form) {
    var mode = form.getAttribute("data-webauthn");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      show(form, "unsupported");
      return;
    }
    busy(form, true);
    show(form, "working");
    optionsFor(form).then(function (json) {
      if (mode === "create") {
        return navigator.credentials.create({ publicKey: creationOptions(json) });
      }
      return navigator.credentials.get({ publicKey: requestOptions(json) });
    }).then(function (credential) {
      if (!credential) {
        var none = new Error("no credential");
        none.name = "NotAllowedError";
        throw none;
      }
      form.querySelector("input[name=credential]").value = JSON.stringify(serialise(credential));
      // HTMLFormElement.submit() does not fire "submit" again.
      form.submit();
    }).catch(function (error) {
      busy(form, false);
      var name = messageFor(error, mode);
      show(form, name, name === "server" ? error.message : "");
    });
  }

  function start() {
    var forms = document.querySelectorAll("form[data-webauthn]");
    for (var i = 0; i < forms.length; i++) {
      (function (form) {
        form.addEventListener("submit", function (event) {
          event.preventDefault();
          run(form);
        });
        if (form.getAttribute("data-autostart") === "true") { run(form); }
      })(forms[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
