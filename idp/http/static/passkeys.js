// Passkeys on the hosted pages: the one script they load (never inline; CSP script-src 'self').
// A form marked data-passkey="signin|second_step|register|confirm" stays hidden until this runs
// in a browser with WebAuthn; on submit it asks the server for a challenge (POST /webauthn/options,
// with the form's CSRF token), lets the browser make or use a passkey, and posts the result in the
// form's hidden fields `challenge_id` and `credential`. A form marked data-passkey-autofill also
// offers passkeys in the e-mail field's autofill (conditional mediation), where the browser can.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) { return; }

  function decode(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function encode(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creation(options) {
    options.challenge = decode(options.challenge);
    options.user.id = decode(options.user.id);
    (options.excludeCredentials || []).forEach(function (c) { c.id = decode(c.id); });
    return options;
  }

  function request(options) {
    options.challenge = decode(options.challenge);
    (options.allowCredentials || []).forEach(function (c) { c.id = decode(c.id); });
    return options;
  }

  function serialise(credential) {
    var r = credential.response;
    var out = { id: credential.id, rawId: encode(credential.rawId), type: credential.type,
                clientExtensionResults: credential.getClientExtensionResults(),
                response: { clientDataJSON: encode(r.clientDataJSON) } };
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      if (r.userHandle) { out.response.userHandle = encode(r.userHandle); }
    }
    return JSON.stringify(out);
  }

  function challenge(form) {
    var body = new URLSearchParams();
    body.set("csrf_token", form.elements.csrf_token.value);
    body.set("purpose", form.dataset.passkey);
    return fetch("/webauthn/options", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("no challenge: " + response.status); }
        return response.json();
      });
  }

  var autofill = null;

  function run(form, mediation) {
    return challenge(form).then(function (answer) {
      var options = JSON.parse(answer.options);
      var made;
      if (form.dataset.passkey === "register") {
        made = navigator.credentials.create({ publicKey: creation(options) });
      } else {
        var asked = { publicKey: request(options) };
        if (mediation) { autofill = new AbortController(); asked.mediation = mediation; asked.signal = autofill.signal; }
        made = navigator.credentials.get(asked);
      }
      return made.then(function (credential) {
        if (!credential) { throw new Error("no credential"); }
        form.elements.challenge_id.value = answer.challenge_id;
        form.elements.credential.value = serialise(credential);
        form.submit();
      });
    });
  }

  function failed(form) {
    return function (error) {
      if (error && error.name === "AbortError") { return; }
      var message = form.querySelector("[data-passkey-error]");
      if (message) { message.hidden = false; }
    };
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (autofill) { autofill.abort(); autofill = null; }
      if (!form.reportValidity()) { return; }
      run(form, null).catch(failed(form));
    });
    if (form.hasAttribute("data-passkey-autofill") && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (available) { run(form, "conditional").catch(function () {}); }
      });
    }
  });
})();
