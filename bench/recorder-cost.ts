/**
 * The CPU cost of per-stage profiling on a server's main thread, per write, without the noise of a
 * cluster: the StageRecorder is driven through the same calls a leader makes (append, acks, log
 * sync, commit, apply loops, replies) for batches of a given size, with chunk samples as the
 * request path makes them, and the clock reads the request path adds. Prints ns per write.
 *
 *   node dist/bench/recorder-cost.js [writesPerBatch=64] [writesPerChunk=16]
 */
import { StageRecorder, type ChunkSample, type RepliedWrite } from '../src/metrics/stage-recorder.js';
import { nowUs } from '../src/metrics/clock.js';

const [writesPerBatch = 64, writesPerChunk = 16] = process.argv.slice(2).map(Number);

function run(profiling: boolean, batches: number): number {
  const recorder = new StageRecorder(profiling, 1);
  const replied: RepliedWrite[] = new Array(writesPerBatch);
  let index = 1;
  let seq = 1;
  const started = process.cpuUsage();
  for (let b = 0; b < batches; b++) {
    const samples: ChunkSample[] = [];
    let sample: ChunkSample | null = null;
    for (let w = 0; w < writesPerBatch; w++) {
      // What the request path does per write: a new sample (four clock reads) per chunk, else a count.
      if (profiling && w % writesPerChunk === 0) {
        const receivedUs = nowUs();
        sample = { receivedUs, startUs: nowUs(), admitUs: nowUs(), preAppendUs: nowUs(), preAppendedUs: nowUs(), count: 1, batch: null };
        samples.push(sample);
      } else if (sample !== null) {
        sample.count++;
      }
      replied[w] = { index: index + w, sample };
    }
    const firstIndex = index;
    const lastIndex = index + writesPerBatch - 1;
    const appendedUs = profiling ? nowUs() : 0;
    recorder.onAppendBatch(seq, firstIndex, writesPerBatch, samples, appendedUs);
    const t = profiling ? nowUs() : 0;
    recorder.onAcks([['n2', lastIndex, writesPerBatch, t, t + 100], ['n3', lastIndex, writesPerBatch, t, t + 120]]);
    recorder.onLogSynced(profiling ? [seq, t + 10, t + 20] : [], t + 30, t + 90);
    recorder.onCommitted(lastIndex, firstIndex - 1);
    recorder.onApplyLoops(profiling ? [firstIndex, lastIndex, t + 200, t + 250] : []);
    const receiptUs = profiling ? nowUs() : 0;
    recorder.onReplied(replied, receiptUs, profiling ? nowUs() : 0);
    recorder.releaseApplyLoops(lastIndex);
    index += writesPerBatch;
    seq++;
  }
  const used = process.cpuUsage(started);
  return ((used.user + used.system) * 1000) / (batches * writesPerBatch);
}

for (let round = 0; round < 3; round++) run(true, 20_000);
const on = Math.min(...[0, 1, 2].map(() => run(true, 50_000)));
const off = Math.min(...[0, 1, 2].map(() => run(false, 50_000)));
process.stdout.write(`${writesPerBatch} writes per batch, ${writesPerChunk} per chunk: main-thread recorder ` +
  `${on.toFixed(0)} ns per write with profiling, ${off.toFixed(0)} ns without; profiling adds ${(on - off).toFixed(0)} ns per write\n`);
