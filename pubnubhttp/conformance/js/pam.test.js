// pam.test.js drives the real PubNub JavaScript SDK against cmd/presenced
// with Access Manager on (-subscribe-key, -publish-key, and the secret key
// from PRESENCED_SECRET_KEY): a server client holding the secret key grants
// and revokes tokens, parseToken reads them, and clients without the right
// grant are refused 403.
'use strict';

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const PubNub = require('pubnub');
const { startServer } = require('./server');

const secretKey = 'js-conformance-secret';

// refused asserts that promise rejects with an SDK error of HTTP status, and
// returns the error's data (the server's envelope).
async function refused(promise, status) {
  try {
    await promise;
  } catch (err) {
    assert.equal(err.status?.statusCode, status, `status of ${JSON.stringify(err.status)}`);
    return err.status.errorData;
  }
  assert.fail(`resolved, want a ${status} rejection`);
}

describe('Access Manager with the JavaScript SDK', () => {
  let server;
  let admin;
  const clients = [];
  const make = (userId, extra = {}) => {
    const pn = new PubNub({
      publishKey: 'demo',
      subscribeKey: 'demo',
      userId,
      origin: server.origin,
      ssl: false,
      ...extra,
    });
    clients.push(pn);
    return pn;
  };
  before(async () => {
    server = await startServer(['-subscribe-key', 'demo', '-publish-key', 'demo'], { PRESENCED_SECRET_KEY: secretKey });
    admin = make('game-server', { secretKey });
  });
  after(async () => {
    for (const pn of clients) pn.destroy();
    assert.equal(await server.stop(), 0, 'presenced exit code after SIGTERM');
  });

  test('grantToken, parseToken, and here_now with and without read', async () => {
    const token = await admin.grantToken({
      ttl: 15,
      authorized_uuid: 'alice',
      resources: { channels: { a: { read: true } }, groups: { g: { read: true, manage: true } } },
      patterns: { channels: { 'room-[0-9]+': { read: true } } },
      meta: { role: 'player' },
    });
    const parsed = admin.parseToken(token);
    assert.equal(parsed.version, 2);
    assert.equal(parsed.ttl, 15);
    assert.equal(parsed.authorized_uuid, 'alice');
    assert.ok(Math.abs(parsed.timestamp - Date.now() / 1000) < 60, `timestamp ${parsed.timestamp}`);
    assert.deepEqual(parsed.resources.channels.a, { read: true, write: false, manage: false, delete: false, get: false, update: false, join: false });
    assert.equal(parsed.resources.groups.g.manage, true);
    assert.equal(parsed.patterns.channels['room-[0-9]+'].read, true);
    assert.deepEqual(parsed.meta, { role: 'player' });
    assert.equal(parsed.signature.length, 32);

    await admin.setState({ channels: ['a', 'b'], state: { host: true }, withHeartbeat: true });
    const alice = make('alice');
    const noToken = await refused(alice.hereNow({ channels: ['a'] }), 403);
    assert.equal(noToken.service, 'Access Manager');
    alice.setToken(token);
    const r = await alice.hereNow({ channels: ['a'] });
    assert.deepEqual(r.channels.a.occupants.map((o) => o.uuid), ['game-server']);
    const denied = await refused(alice.hereNow({ channels: ['a', 'b'] }), 403);
    assert.deepEqual(denied.payload, { channels: ['b'] });
    await alice.hereNow({ channels: ['room-7'] });
  });

  test("alice's token cannot set bob's state or heartbeat for him", async () => {
    const token = await admin.grantToken({ ttl: 15, authorized_uuid: 'alice', resources: { channels: { a: { read: true } } } });
    const alice = make('alice');
    alice.setToken(token);
    await alice.setState({ channels: ['a'], state: { mood: 'calm' } });
    const thief = make('bob');
    thief.setToken(token);
    await refused(thief.setState({ channels: ['a'], state: { mood: 'angry' } }), 403);
    await refused(thief.setState({ channels: ['a'], state: { mood: 'angry' }, withHeartbeat: true }), 403);
    const st = await admin.getState({ uuid: 'bob', channels: ['a'] });
    for (const v of Object.values(st.channels)) assert.deepEqual(v, {}, 'bob has no state after the refused calls');
  });

  test('a revoked token is refused', async () => {
    const token = await admin.grantToken({ ttl: 15, resources: { channels: { a: { read: true } } } });
    const carol = make('carol');
    carol.setToken(token);
    await carol.hereNow({ channels: ['a'] });
    await admin.revokeToken(token);
    await refused(carol.hereNow({ channels: ['a'] }), 403);
  });

  test('subscribe with presence needs read on the -pnpres channel', async () => {
    const token = await admin.grantToken({ ttl: 15, authorized_uuid: 'dave', resources: { channels: { a: { read: true } } } });
    const dave = make('dave');
    dave.setToken(token);
    const status = new Promise((resolve) => dave.addListener({ status: (s) => s.error && resolve(s) }));
    dave.subscribe({ channels: ['a'], withPresence: true });
    // SDK 12 reports a refused subscribe as a connection error whose
    // error is the access denial.
    const s = await status;
    assert.equal(s.error, 'PNAccessDeniedCategory', JSON.stringify(s));

    // With read on a-pnpres too, the same subscribe connects.
    const full = await admin.grantToken({ ttl: 15, authorized_uuid: 'frank', resources: { channels: { a: { read: true }, 'a-pnpres': { read: true } } } });
    const frank = make('frank');
    frank.setToken(full);
    const connected = new Promise((resolve) => frank.addListener({ status: (st) => resolve(st) }));
    frank.subscribe({ channels: ['a'], withPresence: true });
    assert.equal((await connected).category, 'PNConnectedCategory');
  });

  test('another sub key is refused', async () => {
    const stranger = make('stranger', { subscribeKey: 'sub-c-other' });
    const data = await refused(stranger.hereNow({ channels: ['a'] }), 400);
    assert.equal(data.message, 'Invalid Subscribe Key');
  });

  // A 1-minute token on the real clock: opt in with PRESENCED_SLOW_TESTS=1
  // (the Go conformance test checks expiry on an injected clock instead).
  test('an expired token is refused', { skip: !process.env.PRESENCED_SLOW_TESTS }, async () => {
    const token = await admin.grantToken({ ttl: 1, resources: { channels: { a: { read: true } } } });
    const erin = make('erin');
    erin.setToken(token);
    await erin.hereNow({ channels: ['a'] });
    await new Promise((r) => setTimeout(r, 61000));
    await refused(erin.hereNow({ channels: ['a'] }), 403);
  });
});
