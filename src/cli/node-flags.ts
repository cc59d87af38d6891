// The V8 flags every server process starts with. Each launcher passes them: the `opencmq`
// command's first line, `npm start`, the Docker entrypoint, `opencmq local-cluster` and the bench
// (test/unit/server-node-flags.test.ts checks that they agree with this list).
//
// --initial-old-space-size: a server keeps little on the JavaScript heap (message bodies and the
// queue index live in buffers outside it), so V8 sizes its old generation to a few MiB and then,
// seeing that one young-generation collection could fill what is left, starts a full collection
// every few hundred milliseconds under load: 40-100 in a 10 s run on each member, a quarter to a
// third of a follower's CPU. Starting the old generation at 64 MiB cut them to 10-40 and the
// set's CPU per message for batched sends by about a sixth (docs/BENCHMARKS.md); 128 MiB did a
// little better but took a server holding 1,000,000 queued messages from 270 to 301 MB.
export const SERVER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];
