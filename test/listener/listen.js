// A real LISTEN client (node-postgres) for the TAP tests: connects with the
// standard PG* environment variables, runs LISTEN presence_tracking, and
// appends every event it hears to the file named by its first argument, one
// JSON line each: {"received": <ms since epoch>, "payload": <the event>}.
// Writes {"ready": true} once listening; exits on SIGTERM.
'use strict';
const fs = require('fs');
const { Client } = require('pg');

const out = fs.openSync(process.argv[2], 'a');
const write = (line) => fs.writeSync(out, JSON.stringify(line) + '\n');

async function main() {
  const client = new Client();
  client.on('notification', (message) => {
    write({ received: Date.now(), payload: JSON.parse(message.payload) });
  });
  client.on('error', (err) => {
    process.stderr.write(`listener: ${err.message}\n`);
    process.exit(1);
  });
  await client.connect();
  await client.query('LISTEN presence_tracking');
  write({ ready: true });
  process.on('SIGTERM', () => client.end().then(() => process.exit(0)));
}

main().catch((err) => {
  process.stderr.write(`listener: ${err.message}\n`);
  process.exit(1);
});
