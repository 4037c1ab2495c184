// SPDX-License-Identifier: MIT
// igtoken: a fresh Instagram / Meta Graph API token from igtokend, for Node.js
// apps. No dependencies: copy this file next to your code.
//
//   const { getToken, IgtokenError } = require('./igtoken');
//   const t = await getToken('shop-main');  // t.token, t.expiresAt, t.appsecretProof
//   // on failure: IgtokenError with .code forbidden, no_token, expired,
//   // reauth_required, unavailable (the daemon is down), timeout, ...
//
// Ask for the token each time you need it: igtokend replaces it before it
// expires. The socket is $IGTOKEND_SOCKET, else /run/igtokend/igtokend.sock; the
// caller must be one of the account's `readers`. As a command:
// node igtoken.js ACCOUNT prints the token.
'use strict';

const net = require('net');

const DEFAULT_SOCKET = '/run/igtokend/igtokend.sock';
const ANSWER_MAX = 1 << 20;

class IgtokenError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'IgtokenError';
    this.code = code;
  }
}

function getToken(account, { socketPath, timeoutMs = 10000 } = {}) {
  const path = socketPath || process.env.IGTOKEND_SOCKET || DEFAULT_SOCKET;
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let settled = false;
    const sock = net.createConnection({ path });
    const done = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(
      () => done(new IgtokenError('timeout', `no answer from igtokend in ${timeoutMs} ms`)),
      timeoutMs);
    sock.on('connect', () => sock.write(JSON.stringify({ cmd: 'token', account }) + '\n'));
    sock.on('error', (e) => {
      if (['ENOENT', 'ECONNREFUSED', 'ENOTDIR'].includes(e.code)) {
        done(new IgtokenError('unavailable', `igtokend is not running (nothing answers at ${path})`));
      } else if (e.code === 'EACCES') {
        done(new IgtokenError('unavailable', `permission denied on ${path}`));
      } else {
        done(new IgtokenError('unavailable', e.message));
      }
    });
    sock.on('data', (d) => {
      chunks.push(d);
      size += d.length;
      if (size > ANSWER_MAX) return done(new IgtokenError('internal', 'the answer is too long'));
      const text = Buffer.concat(chunks).toString('utf8');
      const nl = text.indexOf('\n');
      if (nl < 0) return undefined;
      let ans;
      try {
        ans = JSON.parse(text.slice(0, nl));
      } catch (e) {
        return done(new IgtokenError('internal', 'the answer is not JSON'));
      }
      if (!ans.ok) return done(new IgtokenError(String(ans.error || 'internal'), String(ans.message || '')));
      return done(null, {
        token: ans.token,
        expiresAt: Number(ans.expires_at),
        appsecretProof: ans.appsecret_proof || null,
      });
    });
    sock.on('end', () => done(new IgtokenError('unavailable', 'igtokend closed the connection')));
  });
}

module.exports = { getToken, IgtokenError, DEFAULT_SOCKET };

if (require.main === module) {
  const codes = { forbidden: 3, no_token: 4, expired: 4, reauth_required: 4, unavailable: 69 };
  if (process.argv.length !== 3) {
    console.error('usage: node igtoken.js ACCOUNT');
    process.exit(2);
  }
  getToken(process.argv[2]).then(
    (t) => { process.stdout.write(t.token + '\n'); },
    (e) => {
      console.error(`igtoken: ${e.code}: ${e.message}`);
      process.exitCode = codes[e.code] || 1;
    });
}
