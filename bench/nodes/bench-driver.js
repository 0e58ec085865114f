'use strict';
// A flow driver for the benchmarks, in the role of an inject node that fires as fast as the flow
// lets it: it sends N messages to its output with at most `window` of them unfinished at once, and
// learns that one finished when a Complete node (scoped to the node under test) feeds it back.
// A Catch node wired to it counts failures the same way. The bench process drives it through
// node.run(); nothing here is Node-RED specific beyond the usual node API, so the core
// `mqtt out` node and `thingsboard-out` are driven identically.
module.exports = function (RED) {
  function BenchDriverNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    let job = null;

    node.on('input', (msg, send, done) => {
      // Only Complete/Catch feedback arrives here.
      if (job && typeof msg._benchSeq === 'number') job.finish(msg._benchSeq, Boolean(msg.error));
      done();
    });

    /**
     * @param {{count:number, window:number, outputs?:number, payload:(seq:number)=>any, latency?:boolean}} opts
     * @returns {Promise<{startedAt:number, endedAt:number, ok:number, failed:number, latenciesMs:Float64Array, firstError?:string}>}
     */
    node.run = function (opts) {
      return new Promise((resolve) => {
        const count = opts.count;
        const outputs = opts.outputs || 1;
        const sentAt = new Float64Array(count);
        const latenciesMs = new Float64Array(count);
        let next = 0;
        let finished = 0;
        let ok = 0;
        let failed = 0;
        let firstError;
        const startedAt = Date.now();
        const sendOne = () => {
          const seq = next++;
          const msg = { _benchSeq: seq, payload: opts.payload(seq) };
          // More message properties per reading (the gateway bench: msg.device).
          if (opts.extra) Object.assign(msg, opts.extra(seq));
          sentAt[seq] = performance.now();
          if (outputs === 1) {
            node.send(msg);
          } else {
            // Round robin over the outputs: one out node (one device) per output.
            const out = new Array(outputs);
            out[seq % outputs] = msg;
            node.send(out);
          }
        };
        job = {
          finish(seq, isError) {
            if (sentAt[seq] === 0 || latenciesMs[seq] !== 0) return; // duplicate feedback
            latenciesMs[seq] = performance.now() - sentAt[seq] || 1e-6;
            finished++;
            if (isError) failed++;
            else ok++;
            if (isError && firstError === undefined) firstError = 'see Catch';
            if (finished === count) {
              job = null;
              resolve({ startedAt, endedAt: Date.now(), ok, failed, latenciesMs, firstError });
              return;
            }
            if (next < count) sendOne();
          },
        };
        const initial = Math.min(opts.window, count);
        for (let i = 0; i < initial; i++) sendOne();
      });
    };
  }
  RED.nodes.registerType('bench-driver', BenchDriverNode, { outputs: 1 });
};
