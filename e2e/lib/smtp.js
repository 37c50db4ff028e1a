// A minimal SMTP server for the browser tests (RFC 5321, node:net): `usher serve` is
// pointed at it with USHER_SMTP_URL, and every message's DATA (dot-unstuffed) is kept in
// arrival order. `next()` waits (bounded) for the next one; `linkIn` finds a link in a
// mail's text, undoing quoted-printable soft breaks and escapes.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';

export async function startSmtp() {
  const mails = [];
  const waiting = [];
  const server = createServer((socket) => {
    let buffer = '';
    let inData = false;
    let data = '';
    const say = (line) => socket.write(`${line}\r\n`);
    say('220 e2e-smtp ESMTP');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let eol;
      while ((eol = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            mails.push(data);
            waiting.splice(0).forEach((wake) => wake());
            data = '';
            say('250 OK queued');
          } else {
            data += `${line.startsWith('.') ? line.slice(1) : line}\n`;
          }
          continue;
        }
        const command = line.toUpperCase();
        if (command.startsWith('EHLO')) { say('250-e2e-smtp'); say('250 8BITMIME'); }
        else if (command === 'DATA') { inData = true; say('354 go ahead'); }
        else if (command === 'QUIT') { say('221 bye'); socket.end(); }
        else say('250 OK');
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `smtp://127.0.0.1:${server.address().port}`,
    /** Mails received and not yet taken with `next`. */
    get pending() { return mails.length; },
    /** The next mail (its headers and body as text), waiting at most `timeoutMs`. */
    async next(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (mails.length === 0) {
        const left = deadline - Date.now();
        assert.ok(left > 0, 'no mail arrived');
        await new Promise((wake) => { waiting.push(wake); setTimeout(wake, left); });
      }
      return mails.shift();
    },
    close: () => server.close(),
  };
}

/** The first link in `mail` whose path and query start with `pathAndQuery`
 *  (e.g. `/password/reset?token=`), with its token. */
export function linkIn(mail, pathAndQuery) {
  const text = mail.replace(/=\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
  const escaped = pathAndQuery.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const found = text.match(new RegExp(`https?://[^\\s"<>]+${escaped}[A-Za-z0-9_-]+`));
  assert.ok(found, `no ${pathAndQuery} link in the mail:\n${text}`);
  return found[0];
}
