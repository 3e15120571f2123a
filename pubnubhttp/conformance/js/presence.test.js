// presence.test.js drives the real PubNub JavaScript SDK (npm pubnub 12.x)
// against cmd/presenced on a loopback port: every presence call, channel
// registration, /time/0, and a presence listener that receives join,
// state-change, leave, timeout and interval events through subscribe.
'use strict';

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const PubNub = require('pubnub');
const { startServer, eventually } = require('./server');

// client returns an SDK client for userId pointed at the server: the
// configuration the README shows.
function client(origin, userId, extra = {}) {
  return new PubNub({
    publishKey: 'demo',
    subscribeKey: 'demo',
    userId,
    origin, // e.g. '127.0.0.1:8090'
    ssl: false, // the server speaks plain HTTP
    ...extra,
  });
}

// recorder collects a client's presence events.
function recorder(pn) {
  const events = [];
  pn.addListener({ presence: (ev) => events.push(ev) });
  return {
    events,
    wait: (what, ok) =>
      eventually(() => {
        const ev = events.find(ok);
        assert.ok(ev, `no ${what} event among ${JSON.stringify(events)}`);
        return ev;
      }),
  };
}

const is = (action, uuid) => (ev) => ev.action === action && ev.uuid === uuid;
const sorted = (l) => [...l].sort();

describe('presence server with the JavaScript SDK', () => {
  let server;
  const clients = [];
  const make = (userId, extra) => {
    const pn = client(server.origin, userId, extra);
    clients.push(pn);
    return pn;
  };
  before(async () => {
    server = await startServer([]);
  });
  after(async () => {
    for (const pn of clients) pn.destroy();
    assert.equal(await server.stop(), 0, 'presenced exit code after SIGTERM');
  });

  test('time', async () => {
    const pn = make('timekeeper');
    const { timetoken } = await pn.time();
    assert.match(String(timetoken), /^\d{17}$/);
  });

  test('channel groups', async () => {
    const pn = make('admin');
    await pn.channelGroups.addChannels({ channelGroup: 'cg', channels: ['c2', 'c1', 'c3'] });
    assert.deepEqual((await pn.channelGroups.listChannels({ channelGroup: 'cg' })).channels, ['c1', 'c2', 'c3']);
    assert.ok((await pn.channelGroups.listGroups()).groups.includes('cg'));
    await pn.channelGroups.removeChannels({ channelGroup: 'cg', channels: ['c2'] });
    assert.deepEqual((await pn.channelGroups.listChannels({ channelGroup: 'cg' })).channels, ['c1', 'c3']);
    await pn.channelGroups.deleteGroup({ channelGroup: 'cg' });
    assert.deepEqual((await pn.channelGroups.listChannels({ channelGroup: 'cg' })).channels, []);
    assert.ok(!(await pn.channelGroups.listGroups()).groups.includes('cg'));
  });

  test('here_now, where_now, heartbeat, set/get state, leave', async () => {
    const alice = make('alice');
    // bob heartbeats every 3 s (presenceTimeout/2 - 1). Kept short because
    // destroy() in SDK 12.0.3 leaves the pending heartbeat timer running,
    // which holds the test process open until it fires.
    const bob = make('bob', { presenceTimeout: 8 });
    const carol = make('carol');
    await alice.channelGroups.addChannels({ channelGroup: 'g', channels: ['b', 'c'] });

    alice.subscribe({ channels: ['a', 'b'] });
    bob.subscribe({ channels: ['a'] });
    carol.subscribe({ channelGroups: ['g'] });
    await eventually(async () => {
      const r = await bob.hereNow({ channels: ['a', 'b', 'c'] });
      assert.equal(r.totalOccupancy, 5);
      assert.equal(r.totalChannels, 3);
    });

    // heartbeat with state (the SDK sends the state as it is, not keyed by
    // channel; the server applies it to every channel of the call).
    await alice.setState({ channels: ['a', 'b'], state: { role: 'host' }, withHeartbeat: true });

    // Single channel, with state.
    let r = await carol.hereNow({ channels: ['a'], includeUUIDs: true, includeState: true });
    assert.equal(r.totalOccupancy, 2);
    const occ = Object.fromEntries(r.channels.a.occupants.map((o) => [o.uuid, o.state ?? null]));
    assert.deepEqual(occ, { alice: { role: 'host' }, bob: null });

    // Single channel, occupancy only.
    r = await carol.hereNow({ channels: ['a'], includeUUIDs: false });
    assert.equal(r.channels.a.occupancy, 2);
    assert.deepEqual(r.channels.a.occupants, []);

    // Multi channel: empty channels are left out.
    r = await carol.hereNow({ channels: ['a', 'b', 'empty'] });
    assert.equal(r.totalChannels, 2);
    assert.equal(r.totalOccupancy, 4);
    assert.deepEqual(sorted(r.channels.b.occupants.map((o) => o.uuid)), ['alice', 'carol']);
    assert.equal(r.channels.empty, undefined);

    // Paging (the JS SDK has limit and offset).
    const pages = [];
    for (const offset of [0, 1, 2]) {
      const p = await carol.hereNow({ channels: ['a', 'b'], limit: 1, offset });
      assert.equal(p.totalOccupancy, 4);
      pages.push(...(p.channels.a?.occupants ?? []).map((o) => o.uuid));
    }
    assert.deepEqual(sorted(pages), ['alice', 'bob']);

    // Channel group, and global.
    r = await alice.hereNow({ channelGroups: ['g'] });
    assert.deepEqual(sorted(Object.keys(r.channels)), ['b', 'c']);
    assert.equal(r.totalOccupancy, 3);
    r = await alice.hereNow({});
    assert.equal(r.totalChannels, 3);
    assert.equal(r.totalOccupancy, 5);

    // where_now.
    assert.deepEqual((await bob.whereNow({ uuid: 'alice' })).channels, ['a', 'b']);
    assert.deepEqual((await carol.whereNow({})).channels, ['b', 'c']);

    // set_state and get_state.
    const set = await bob.setState({ channels: ['a'], state: { role: 'speaker', turn: 2 } });
    assert.deepEqual(set.state, { role: 'speaker', turn: 2 });
    let got = await alice.getState({ uuid: 'bob', channels: ['a'] });
    assert.deepEqual(got.channels, { a: { role: 'speaker', turn: 2 } });
    await carol.setState({ channelGroups: ['g'], state: { away: true } });
    got = await carol.getState({ channels: ['a'], channelGroups: ['g'] });
    // The server sends PubNub's real multi-channel shape, payload.channels;
    // JS SDK 12 reads payload itself as the channel map, not payload.channels.
    assert.deepEqual(got.channels.channels ?? got.channels, { b: { away: true }, c: { away: true } });

    // Bad input is an error in PubNub's envelope, and changes nothing.
    await assert.rejects(bob.hereNow({ channels: ['a'], limit: 1001 }), (err) => {
      assert.equal(err.status.statusCode, 400);
      assert.match(JSON.stringify(err.status.errorData), /invalid limit 1001/);
      return true;
    });
    await assert.rejects(bob.setState({ channels: ['a', 'x-pnpres'], state: { role: 'x' } }), (err) => {
      assert.equal(err.status.statusCode, 400);
      return true;
    });
    got = await alice.getState({ uuid: 'bob', channels: ['a'] });
    assert.deepEqual(got.channels, { a: { role: 'speaker', turn: 2 } });

    // leave: unsubscribing sends it.
    bob.unsubscribe({ channels: ['a'] });
    await eventually(async () => assert.deepEqual((await alice.whereNow({ uuid: 'bob' })).channels, []));
    alice.unsubscribeAll();
    carol.unsubscribeAll();
    await eventually(async () => assert.equal((await bob.hereNow({})).totalOccupancy, 0));
  });
});

describe('presence events with the JavaScript SDK', () => {
  let server;
  const clients = [];
  const make = (userId, extra) => {
    const pn = client(server.origin, userId, extra);
    clients.push(pn);
    return pn;
  };
  before(async () => {
    // A 3 s presence timeout, so the timeout event comes quickly.
    server = await startServer(['-min-timeout', '1s', '-timeout', '3s', '-max-timeout', '3s', '-poll-timeout', '5s', '-sweep-interval', '200ms']);
  });
  after(async () => {
    for (const pn of clients) pn.destroy();
    assert.equal(await server.stop(), 0, 'presenced exit code after SIGTERM');
  });

  test('join, state-change, leave and timeout reach a presence listener', async () => {
    const listener = make('listener');
    await listener.channelGroups.addChannels({ channelGroup: 'lobby', channels: ['room'] });
    const events = recorder(listener);
    listener.subscribe({ channels: ['room'], withPresence: true });
    const own = await events.wait('join of listener', is('join', 'listener'));
    assert.equal(own.channel, 'room');
    assert.equal(own.occupancy, 1);
    assert.match(String(own.timetoken), /^\d{17}$/);

    const groupListener = make('group-listener');
    const groupEvents = recorder(groupListener);
    groupListener.subscribe({ channelGroups: ['lobby'], withPresence: true });
    await events.wait('join of group-listener', is('join', 'group-listener'));

    const joiner = make('joiner');
    joiner.subscribe({ channels: ['room'] });
    const join = await events.wait('join of joiner', is('join', 'joiner'));
    assert.equal(join.occupancy, 3);
    const gj = await groupEvents.wait('join of joiner through lobby', is('join', 'joiner'));
    assert.equal(gj.subscription, 'lobby-pnpres');
    assert.equal(gj.actualChannel, 'room');

    await joiner.setState({ channels: ['room'], state: { mood: 'busy' } });
    const sc = await events.wait('state-change of joiner', is('state-change', 'joiner'));
    assert.deepEqual(sc.state, { mood: 'busy' });

    joiner.unsubscribe({ channels: ['room'] });
    const leave = await events.wait('leave of joiner', is('leave', 'joiner'));
    assert.equal(leave.occupancy, 2);
    await groupEvents.wait('leave of joiner through lobby', is('leave', 'joiner'));

    // The dropper heartbeats (every second) and then vanishes without a
    // leave: the others see a timeout once its 3 s have passed.
    const dropper = make('dropper', { presenceTimeout: 4, suppressLeaveEvents: true });
    dropper.subscribe({ channels: ['room'] });
    await events.wait('join of dropper', is('join', 'dropper'));
    dropper.destroy();
    const to = await events.wait('timeout of dropper', is('timeout', 'dropper'));
    assert.equal(to.occupancy, 2);
    await groupEvents.wait('timeout of dropper through lobby', is('timeout', 'dropper'));

    // Held long-polls kept the listeners present all along.
    assert.ok(!events.events.some((ev) => ev.uuid === 'listener' && ev.action !== 'join'));
  });
});

describe('interval events with the JavaScript SDK', () => {
  let server;
  const clients = [];
  before(async () => {
    server = await startServer(['-announce-max', '2', '-interval', '1s', '-deltas']);
  });
  after(async () => {
    for (const pn of clients) pn.destroy();
    assert.equal(await server.stop(), 0, 'presenced exit code after SIGTERM');
  });

  test('above announce-max a listener receives interval events with deltas', async () => {
    const listener = client(server.origin, 'listener');
    clients.push(listener);
    const events = recorder(listener);
    listener.subscribe({ channels: ['hall-pnpres'] });
    await eventually(async () => assert.ok(listener.getSubscribedChannels().includes('hall-pnpres')));
    await new Promise((r) => setTimeout(r, 300)); // let the handshake land
    for (const name of ['g0', 'g1', 'g2']) {
      const pn = client(server.origin, name);
      clients.push(pn);
      pn.subscribe({ channels: ['hall'] });
    }
    const iv = await events.wait('interval with occupancy 3', (ev) => ev.action === 'interval' && ev.occupancy === 3);
    assert.equal(iv.channel, 'hall');
    assert.ok(Array.isArray(iv.join) && iv.join.length >= 1, `interval join deltas: ${JSON.stringify(iv)}`);
  });
});
