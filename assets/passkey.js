// Usher's passkey script (issue 14, docs/design/mfa.md). Plain ES2020, no dependencies,
// no inline script: served as /assets/passkey.js under `script-src 'self'`.
//
// It only runs WebAuthn in the browser and posts the result: every decision is the
// server's (usher-core/src/passkeys.rs). It never reads or writes a cookie.
//
// CONTRACT (what a page provides):
//
//   <form data-passkey="register" | data-passkey="authenticate"
//         method="post" action="…" hidden>
//     <input type="hidden" name="ceremony" value="CEREMONY_ID">
//     <input type="hidden" name="credential">          (filled by this script)
//     … any other fields (CSRF token, interaction id, passkey name) …
//     <button type="submit">…</button>
//     <p data-passkey-status data-passkey-error-text="Text shown on failure"></p>
//   </form>
//
// - Render passkey forms with the `hidden` attribute: this script removes it only where
//   WebAuthn is available (`window.PublicKeyCredential`), so browsers without it, or
//   without script, never see a button that cannot work.
// - The options (StartedCeremony.challenge: `{"publicKey": {…}}`, binary members as
//   base64url) come from either
//     data-passkey-options="JSON"        on the form, with the ceremony id already in the
//                                        `ceremony` field, or
//     data-passkey-options-url="/path"   on the form: on submit the script POSTs the
//                                        form's fields (urlencoded, same-origin, without
//                                        `credential`) to that path and expects
//                                        `{"ceremony": "ID", "options": {"publicKey": …}}`
//                                        (200, application/json); it writes the id into
//                                        the `ceremony` field.
// - Submitting the form (its button) runs navigator.credentials.create (register) or
//   .get (authenticate, modal); on success the credential's JSON (the shape of
//   PublicKeyCredential.toJSON(): id, rawId, type, response{…}, clientExtensionResults,
//   binary members base64url) goes into the `credential` field and the form is submitted
//   for real. On failure (cancelled, timed out, refused) nothing is posted: the form
//   gets `data-passkey-state="error"`, the status element gets the error's name in
//   `data-error` and the text of its `data-passkey-error-text` (if any) — or, when the
//   options request was answered 429 (too many ceremonies started lately; error name
//   `TooManyRequests`), of its `data-passkey-busy-text` if it has one; the person can
//   press the button again. A new press re-fetches options when an options URL is given
//   (a ceremony is single-use); with inline options the page must be reloaded for a new
//   ceremony if the server already consumed the first one.
// - Autofill (conditional mediation), on an authenticate form only, when it also has
//     data-passkey-autofill-options="JSON" and data-passkey-autofill-ceremony="ID", or
//     data-passkey-autofill-options-url="/path" (same POST and answer as above):
//   on load, if PublicKeyCredential.isConditionalMediationAvailable() resolves true, the
//   script starts navigator.credentials.get({mediation: "conditional"}) with that
//   second ceremony (one challenge per request: the modal button keeps its own). The
//   page's username field must have autocomplete="username webauthn". When the person
//   picks a passkey from the autofill list, the autofill ceremony's id goes into
//   `ceremony`, the credential into `credential`, and the form is submitted. Pressing
//   the button aborts the pending autofill request first.
//
// Nothing else is read: no global configuration, no other element ids.

(function () {
  "use strict";

  // ---- base64url <-> ArrayBuffer ---------------------------------------------------

  function fromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return Object.assign({}, d, { id: fromBase64url(d.id) });
    });
  }

  // The server's JSON options as the WebAuthn API wants them (binary members as
  // ArrayBuffers). Done by hand rather than with parseCreationOptionsFromJSON, which not
  // every browser has.
  function creationOptions(json) {
    const pk = Object.assign({}, json.publicKey);
    pk.challenge = fromBase64url(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: fromBase64url(pk.user.id) });
    if (pk.excludeCredentials) {
      pk.excludeCredentials = descriptors(pk.excludeCredentials);
    }
    return { publicKey: pk };
  }

  function requestOptions(json) {
    const pk = Object.assign({}, json.publicKey);
    pk.challenge = fromBase64url(pk.challenge);
    if (pk.allowCredentials) {
      pk.allowCredentials = descriptors(pk.allowCredentials);
    }
    return { publicKey: pk };
  }

  // ---- credentials as JSON (the shape of PublicKeyCredential.toJSON()) -------------

  function registrationJSON(credential) {
    const r = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toBase64url(r.clientDataJSON),
        attestationObject: toBase64url(r.attestationObject),
        transports: typeof r.getTransports === "function" ? r.getTransports() : [],
      },
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  function assertionJSON(credential) {
    const r = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        clientDataJSON: toBase64url(r.clientDataJSON),
        authenticatorData: toBase64url(r.authenticatorData),
        signature: toBase64url(r.signature),
        userHandle: r.userHandle ? toBase64url(r.userHandle) : null,
      },
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  // ---- options: inline, or fetched from the server ---------------------------------

  // POSTs the form's fields (without `credential`) to `url`; resolves to
  // {ceremony, options}.
  function fetchOptions(form, url) {
    const body = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (name !== "credential" && typeof value === "string") {
        body.append(name, value);
      }
    });
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      body: body,
    }).then(function (response) {
      if (!response.ok) {
        const error = new Error("options request failed: " + response.status);
        if (response.status === 429) {
          error.name = "TooManyRequests";
        }
        throw error;
      }
      return response.json();
    });
  }

  // The modal (or registration) request's {ceremony, options}.
  function ownOptions(form) {
    const url = form.getAttribute("data-passkey-options-url");
    if (url) {
      return fetchOptions(form, url);
    }
    return Promise.resolve({
      ceremony: form.elements.ceremony.value,
      options: JSON.parse(form.getAttribute("data-passkey-options")),
    });
  }

  // The autofill request's {ceremony, options}, or null if the form has none.
  function autofillOptions(form) {
    const url = form.getAttribute("data-passkey-autofill-options-url");
    if (url) {
      return fetchOptions(form, url);
    }
    const inline = form.getAttribute("data-passkey-autofill-options");
    const ceremony = form.getAttribute("data-passkey-autofill-ceremony");
    if (inline && ceremony) {
      return Promise.resolve({ ceremony: ceremony, options: JSON.parse(inline) });
    }
    return null;
  }

  // ---- posting -------------------------------------------------------------------

  function post(form, ceremony, credentialJSON) {
    form.elements.ceremony.value = ceremony;
    form.elements.credential.value = JSON.stringify(credentialJSON);
    form.removeAttribute("data-passkey-state");
    // HTMLFormElement.submit() does not fire `submit` again.
    form.submit();
  }

  function failed(form, error) {
    form.setAttribute("data-passkey-state", "error");
    const status = form.querySelector("[data-passkey-status]");
    if (status) {
      const name = (error && error.name) || "Error";
      status.setAttribute("data-error", name);
      const text =
        (name === "TooManyRequests" && status.getAttribute("data-passkey-busy-text")) ||
        status.getAttribute("data-passkey-error-text");
      if (text) {
        status.textContent = text;
      }
    }
  }

  // ---- the two kinds of forms ----------------------------------------------------

  function setUpRegister(form) {
    let busy = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) {
        return;
      }
      busy = true;
      ownOptions(form)
        .then(function (started) {
          return navigator.credentials
            .create(creationOptions(started.options))
            .then(function (credential) {
              post(form, started.ceremony, registrationJSON(credential));
            });
        })
        .catch(function (error) {
          failed(form, error);
        })
        .finally(function () {
          busy = false;
        });
    });
  }

  function setUpAuthenticate(form) {
    let busy = false;
    let autofill = null; // the AbortController of a pending conditional request

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) {
        return;
      }
      busy = true;
      if (autofill) {
        autofill.abort();
        autofill = null;
      }
      ownOptions(form)
        .then(function (started) {
          return navigator.credentials
            .get(requestOptions(started.options))
            .then(function (credential) {
              post(form, started.ceremony, assertionJSON(credential));
            });
        })
        .catch(function (error) {
          failed(form, error);
        })
        .finally(function () {
          busy = false;
        });
    });

    const conditional = PublicKeyCredential.isConditionalMediationAvailable;
    if (typeof conditional !== "function") {
      return;
    }
    conditional.call(PublicKeyCredential).then(function (available) {
      if (!available || busy) {
        return;
      }
      const pending = autofillOptions(form);
      if (!pending) {
        return;
      }
      pending
        .then(function (started) {
          if (busy) {
            return;
          }
          autofill = new AbortController();
          const options = requestOptions(started.options);
          options.mediation = "conditional";
          options.signal = autofill.signal;
          return navigator.credentials.get(options).then(function (credential) {
            autofill = null;
            if (credential) {
              post(form, started.ceremony, assertionJSON(credential));
            }
          });
        })
        .catch(function (error) {
          // Aborted by the button, or the person dismissed autofill: stay quiet.
          if (error && error.name !== "AbortError" && error.name !== "NotAllowedError") {
            failed(form, error);
          }
        });
    });
  }

  function start() {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      return;
    }
    document.querySelectorAll("form[data-passkey]").forEach(function (form) {
      const kind = form.getAttribute("data-passkey");
      if (kind === "register") {
        setUpRegister(form);
      } else if (kind === "authenticate") {
        setUpAuthenticate(form);
      } else {
        return;
      }
      form.hidden = false;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
