// The browser's half of a passkey ceremony (WebAuthn). The page's form carries the server's
// options (data-passkey-options) and whether to create a passkey or answer with one
// (data-passkey="create" | "get"). The authenticator's answer goes back in the same form's
// hidden "credential" field, posted like any other form (with its CSRF token), so the page
// needs no inline script and the console's security policy stays strict.
(function () {
  "use strict";

  function toBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i += 1) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBytes(options) {
    options.challenge = toBytes(options.challenge);
    if (options.user) { options.user.id = toBytes(options.user.id); }
    ["excludeCredentials", "allowCredentials"].forEach(function (list) {
      (options[list] || []).forEach(function (descriptor) {
        descriptor.id = toBytes(descriptor.id);
      });
    });
    return options;
  }

  function asJson(credential) {
    var response = credential.response;
    var fields = { clientDataJSON: toBase64url(response.clientDataJSON) };
    if (response.attestationObject) {
      fields.attestationObject = toBase64url(response.attestationObject);
      if (response.getTransports) { fields.transports = response.getTransports(); }
    } else {
      fields.authenticatorData = toBase64url(response.authenticatorData);
      fields.signature = toBase64url(response.signature);
      if (response.userHandle) { fields.userHandle = toBase64url(response.userHandle); }
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: fields,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined
    });
  }

  var form = document.getElementById("passkey-form");
  if (!form) { return; }
  var button = form.querySelector("button[type=button]");
  var problem = document.getElementById("passkey-error");

  function fail(message) {
    problem.textContent = message;
    problem.hidden = false;
    button.disabled = false;
  }

  button.addEventListener("click", function () {
    if (!window.PublicKeyCredential) {
      fail(problem.getAttribute("data-text-unsupported"));
      return;
    }
    button.disabled = true;
    var options = withBytes(JSON.parse(form.dataset.passkeyOptions));
    var ceremony = form.dataset.passkey === "create"
      ? navigator.credentials.create({ publicKey: options })
      : navigator.credentials.get({ publicKey: options });
    ceremony.then(function (credential) {
      form.elements.credential.value = asJson(credential);
      form.submit();
    }).catch(function () {
      fail(problem.getAttribute("data-text-not-used"));
    });
  });
}());
