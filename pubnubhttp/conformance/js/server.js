// server.js starts cmd/presenced as a child process on 127.0.0.1 with port
// 0 and reads its address from the "listening on" line. It runs the binary
// named by $PRESENCED, or builds one with `go build` into a temporary
// directory once per test file.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const moduleDir = path.resolve(__dirname, '..', '..', '..', 'cmd', 'presenced'); // the presenced module
let built;

function binary() {
  if (process.env.PRESENCED) return process.env.PRESENCED;
  if (!built) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'presenced-'));
    built = path.join(dir, 'presenced');
    execFileSync('go', ['build', '-o', built, '.'], { cwd: moduleDir, stdio: 'inherit' });
  }
  return built;
}

// startServer runs presenced with the given flags and resolves to
// { origin: '127.0.0.1:PORT', stop() } where stop sends SIGTERM and resolves
// to the exit code.
function startServer(flags = []) {
  const child = spawn(binary(), ['-addr', '127.0.0.1:0', ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  // Never leave a server behind, even if the test process dies.
  const reap = () => child.kill('SIGKILL');
  process.on('exit', reap);
  exited.then(() => process.off('exit', reap));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/listening on http:\/\/(\S+)/);
      if (m) {
        resolve({
          origin: m[1],
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    exited.then((code) => reject(new Error(`presenced exited with ${code} before listening: ${out}`)));
  });
}

module.exports = { startServer };
