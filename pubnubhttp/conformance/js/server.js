// server.js starts cmd/presenced as a child process on 127.0.0.1 with port
// 0 and reads its address from the "listening on" line. It runs the binary
// named by $PRESENCED, or builds one with `go build` into a temporary
// directory once per test file. For the multi-instance tests it also starts
// redis-server on a free loopback port, and a load balancer (a TCP proxy)
// in front of several servers.
'use strict';

const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
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

// startServer runs presenced with the given flags (and env added to the
// environment) and resolves to { origin: '127.0.0.1:PORT', stop(), kill() }
// where stop sends SIGTERM and kill SIGKILL (a crash), each resolving to the
// exit code or signal.
function startServer(flags = [], env = {}) {
  return startChild(binary(), ['-addr', '127.0.0.1:0', ...flags], /listening on http:\/\/(\S+)/, env);
}

// startChild runs path with args (and env added to the environment) and
// resolves once a line of its output matches ready, to { origin: the
// match's first group, stop(), kill() }.
function startChild(path, args, ready, env = {}) {
  const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal));
    child.on('error', (err) => resolve(`not started: ${err.message}`)); // e.g. not on PATH
  });
  // Never leave a server behind, even if the test process dies.
  const reap = () => child.kill('SIGKILL');
  process.on('exit', reap);
  exited.then(() => process.off('exit', reap));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(ready);
      if (m) {
        out = '';
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve({
          origin: m[1],
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
          kill: () => {
            child.kill('SIGKILL');
            return exited;
          },
          exited,
        });
      }
    });
    exited.then((code) => reject(new Error(`${path} exited with ${code} before it was ready: ${out}`)));
  });
}

// redisMissing returns why the multi-instance tests cannot run (redis-server
// is not installed), or null. In CI (CI=true) they must run: it returns
// null and startRedis fails.
function redisMissing() {
  const probe = spawnSync('redis-server', ['--version']);
  if (!probe.error && probe.status === 0) return null;
  if (process.env.CI === 'true') return null;
  return 'redis-server not on PATH (apt-get install redis-server to run the multi-instance tests)';
}

// freePort resolves to a loopback port nobody listens on.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// startRedis runs redis-server without persistence on a free loopback port
// and resolves to { url: 'redis://127.0.0.1:PORT/0', stop() }.
async function startRedis() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = await startChild('redis-server', args, /(Ready to accept connections)/);
  return { url: `redis://127.0.0.1:${port}/0`, stop: child.kill };
}

// startProxy is the load balancer a deployment puts in front of its
// servers: each new connection goes to the first of targets that accepts
// it, so when a server dies its clients' next connections reach the next
// one. It resolves to { origin, counts, stop() }: counts[i] is the number
// of connections sent to targets[i].
function startProxy(targets) {
  const counts = targets.map(() => 0);
  const open = new Set();
  const srv = net.createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => {});
    client.pause();
    const attempt = (i) => {
      if (i >= targets.length) {
        client.destroy();
        return;
      }
      const [host, port] = targets[i].split(':');
      const server = net.connect(Number(port), host);
      server.once('error', () => attempt(i + 1));
      server.once('connect', () => {
        counts[i]++;
        open.add(server);
        server.on('close', () => {
          open.delete(server);
          client.destroy();
        });
        server.on('error', () => {});
        client.on('close', () => server.destroy());
        client.pipe(server);
        server.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  return new Promise((resolve) => {
    srv.listen(0, '127.0.0.1', () => {
      resolve({
        origin: `127.0.0.1:${srv.address().port}`,
        counts,
        stop: () =>
          new Promise((done) => {
            for (const s of open) s.destroy();
            srv.close(() => done());
          }),
      });
    });
  });
}

// eventually retries check until it stops throwing, for up to 15 s.
async function eventually(check) {
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

module.exports = { startServer, startRedis, startProxy, redisMissing, eventually };
