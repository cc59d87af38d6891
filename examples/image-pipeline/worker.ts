// An image worker process: consumes `image-requests` with the SDK's Consumer, "processes" each
// image and puts the result on `image-results`. The request is deleted only after the result is
// sent, so a worker that dies mid-job leaves the job to reappear after the visibility timeout.
//
// Usage: node worker.js ENDPOINT WORKER_NAME   (run.ts forks three of these)

import { CmqClient, Consumer } from '../../src/client';
import { REQUEST_QUEUE, RESULT_QUEUE, processImage, type ImageJob, type ImageResult, type SupervisorCommand, type WorkerReport } from './jobs';

const [endpoint = 'http://127.0.0.1:9600', worker = `worker-${process.pid}`] = process.argv.slice(2);

/** Jobs announced to the supervisor and waiting for its `go`. */
const waitingForGo = new Map<string, () => void>();

function report(r: WorkerReport): void {
  process.send?.(r);
}

/**
 * Tells the supervisor this worker now holds the job, then waits for its go-ahead. This is only
 * so the demo can kill a worker at a known moment; standalone (no IPC channel) it returns at once.
 */
function announceStart(imageId: string, delivery: number): Promise<void> {
  if (process.send === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    waitingForGo.set(imageId, resolve);
    report({ type: 'started', worker, imageId, delivery });
  });
}

function main(): void {
  const client = new CmqClient({ endpoint });
  const consumer = new Consumer(client, {
    queueName: REQUEST_QUEUE,
    concurrency: 1,
    pollingWaitSeconds: 1,
    onError: (err, msg) => console.error(`[${worker}] ${msg === undefined ? '' : `message ${msg.msgId}: `}${String(err)}`),
    handler: async (msg) => {
      const job = JSON.parse(msg.body) as ImageJob;
      await announceStart(job.imageId, msg.dequeueCount);
      const processed = await processImage(job);
      const result: ImageResult = { ...processed, worker, delivery: msg.dequeueCount, finishedAtMs: Date.now() };
      await client.sendMessage(RESULT_QUEUE, JSON.stringify(result));
    },
  });

  process.on('message', (cmd: SupervisorCommand) => {
    switch (cmd.type) {
      case 'go': {
        const go = waitingForGo.get(cmd.imageId);
        waitingForGo.delete(cmd.imageId);
        go?.();
        break;
      }
      case 'stop':
        void consumer.stop({ abortReceive: true }).then(() => {
          client.close();
          process.exit(0);
        });
        break;
    }
  });
  // The supervisor is gone: nobody will say go or stop.
  process.on('disconnect', () => process.exit(1));

  consumer.start();
  report({ type: 'ready', worker });
}

main();
