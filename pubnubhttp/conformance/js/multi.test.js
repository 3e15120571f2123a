// multi.test.js: three presenced on one redis-server are one presence
// service for the real PubNub JavaScript SDK, its clients spread across
// them. Skipped with a message when redis-server is not installed, unless
// CI=true.
'use strict';

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const PubNub = require('pubnub');
const { startServer, startRedis, startProxy, redisMissing, eventually } = require('./server');

function client(origin, userId, extra = {}) {
  return new PubNub({ publishKey: 'demo', subscribeKey: 'demo', userId, origin, ssl: false, ...extra });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const is = (action, uuid) => (ev) => ev.action === action && ev.uuid === uuid;

function recorder(pn) {
  const events = [];
  pn.addListener({ presence: (ev) => events.push(ev) });
  return {
    events,
    wait: (what, ok) =>
      eventually(() => {
        const ev = events.find(ok);
        assert.ok(ev, `no ${what} event among ${JSON.stringify(events.map((e) => `${e.action} ${e.uuid}`))}`);
        return ev;
      }),
    // keys lists "action uuid" of the events of channel, sorted.
    keys: (channel) =>
      events
        .filter((ev) => ev.channel === channel)
        .map((ev) => `${ev.action} ${ev.uuid}`)
        .sort(),
  };
}

const skip = redisMissing();

describe('three presenced on one Redis with the JavaScript SDK', { skip: skip ?? false }, () => {
  let redis;
  let servers;
  let lb;
  const clients = [];
  const make = (origin, userId, extra) => {
    const pn = client(origin, userId, extra);
    clients.push(pn);
    return pn;
  };
  before(async () => {
    redis = await startRedis();
    const flags = ['-redis', redis.url, '-min-timeout', '1s', '-sweep-interval', '100ms', '-poll-timeout', '20s', '-announce-max', '-1'];
    servers = await Promise.all([startServer(flags), startServer(flags), startServer(flags)]);
  });
  after(async () => {
    for (const pn of clients) pn.destroy();
    if (lb) await lb.stop();
    for (const s of servers ?? []) await s.stop();
    if (redis) await redis.stop();
  });

  test('here_now on every instance sees everyone', async () => {
    ['j1', 'j2', 'j3'].forEach((id, i) => make(servers[i].origin, id).subscribe({ channels: ['everyone'] }));
    for (const s of servers) {
      const pn = make(s.origin, 'observer');
      await eventually(async () => {
        const r = await pn.hereNow({ channels: ['everyone'], includeUUIDs: true });
        assert.deepEqual(r.channels.everyone.occupants.map((o) => o.uuid).sort(), ['j1', 'j2', 'j3'], `here_now through ${s.origin}`);
      });
    }
  });

  test('a join reaches listeners of the other instances once; a listener moves off a killed instance and misses and repeats nothing; timeouts of its clients are announced once', async () => {
    const [a, b, c] = servers;
    lb = await startProxy([a.origin, b.origin]);
    const listeners = [make(b.origin, 'listener-b'), make(c.origin, 'listener-c'), make(lb.origin, 'mover')];
    const all = listeners.map(recorder);
    const [onB, onC, moved] = all;
    for (const pn of listeners) pn.subscribe({ channels: ['room-pnpres'] });
    await sleep(500); // let the handshakes land

    // A join through a reaches the listeners of b and c once.
    make(a.origin, 'u1').subscribe({ channels: ['room'] });
    for (const r of all) await r.wait('join of u1', is('join', 'u1'));

    // Two clients of a only, with a 3 s presence timeout, that never leave.
    // The SDK's subscribe requests carry no heartbeat= (the server's
    // default timeout applies); its heartbeat requests, every 0.5 s, carry
    // heartbeat=3: let a few of them land before a dies.
    for (const id of ['dropped-1', 'dropped-2']) {
      make(a.origin, id, { presenceTimeout: 3, suppressLeaveEvents: true }).subscribe({ channels: ['room'] });
    }
    for (const r of all) await r.wait('join of dropped-2', is('join', 'dropped-2'));
    await sleep(1500);
    assert.ok(lb.counts[0] > 0 && lb.counts[1] === 0, `before the kill: load balancer counts ${lb.counts}, want the mover on a only`);

    await a.kill(); // SIGKILL: the mover's long-poll ends with it

    const u2 = make(c.origin, 'u2');
    u2.subscribe({ channels: ['room'] });
    make(b.origin, 'u3').subscribe({ channels: ['room'] });
    await onC.wait('join of u2', is('join', 'u2'));
    u2.unsubscribe({ channels: ['room'] }); // a leave through c
    for (const r of all) {
      await r.wait('timeout of dropped-1', is('timeout', 'dropped-1'));
      await r.wait('timeout of dropped-2', is('timeout', 'dropped-2'));
    }
    make(b.origin, 'u4').subscribe({ channels: ['room'] });
    make(c.origin, 'fence').subscribe({ channels: ['room'] });
    for (const r of all) await r.wait('join of fence', is('join', 'fence'));
    await sleep(300);

    const want = ['join dropped-1', 'join dropped-2', 'join fence', 'join u1', 'join u2', 'join u3', 'join u4', 'leave u2', 'timeout dropped-1', 'timeout dropped-2'].sort();
    assert.deepEqual(onB.keys('room'), want, 'listener through b');
    assert.deepEqual(onC.keys('room'), want, 'listener through c');
    assert.deepEqual(moved.keys('room'), want, 'listener moved from a to b');
    assert.ok(lb.counts[1] > 0, `load balancer counts ${lb.counts}: the mover never reached b`);
  });
});

if (skip) test(`multi-instance tests skipped: ${skip}`, { skip: true }, () => {});
