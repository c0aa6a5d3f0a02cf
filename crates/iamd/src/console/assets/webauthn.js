// The only script of the iamd console: hands a WebAuthn ceremony's options to the browser and posts
// the authenticator's answer back in an ordinary form (and, at the end, the copy button of the
// `aws login --remote` code). The options are in a JSON data block on the page.
(function () {
  "use strict";
  var data = document.getElementById("webauthn-options");
  var form = document.getElementById("webauthn-form");
  var start = document.getElementById("webauthn-start");
  var status = document.getElementById("webauthn-status");
  if (!data || !form || !start) { return; }

  function toBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function toB64u(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  async function run() {
    if (!window.PublicKeyCredential) { throw new Error("This browser does not support security keys (WebAuthn)."); }
    var opts = JSON.parse(data.textContent).publicKey;
    opts.challenge = toBuf(opts.challenge);
    var out;
    if (data.getAttribute("data-mode") === "create") {
      opts.user.id = toBuf(opts.user.id);
      (opts.excludeCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
      var c = await navigator.credentials.create({ publicKey: opts });
      out = { id: c.id, rawId: toB64u(c.rawId), type: c.type, extensions: {},
              response: { attestationObject: toB64u(c.response.attestationObject), clientDataJSON: toB64u(c.response.clientDataJSON) } };
    } else {
      (opts.allowCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
      var a = await navigator.credentials.get({ publicKey: opts });
      out = { id: a.id, rawId: toB64u(a.rawId), type: a.type, extensions: {},
              response: { authenticatorData: toB64u(a.response.authenticatorData), clientDataJSON: toB64u(a.response.clientDataJSON),
                          signature: toB64u(a.response.signature), userHandle: a.response.userHandle ? toB64u(a.response.userHandle) : null } };
    }
    form.elements.credential.value = JSON.stringify(out);
    form.submit();
  }

  start.addEventListener("click", function (e) {
    e.preventDefault();
    start.disabled = true;
    status.textContent = "Waiting for your security key…";
    run().catch(function (err) {
      start.disabled = false;
      status.textContent = "The security key did not complete (" + (err && err.name ? err.name : "error") + "). Try again.";
    });
  });
})();

// The "Copy" button of the `aws login --remote` confirmation page.
(function () {
  "use strict";
  var button = document.getElementById("copy-login-code");
  var field = document.getElementById("login-code");
  if (!button || !field) { return; }
  button.addEventListener("click", function () {
    field.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
})();
