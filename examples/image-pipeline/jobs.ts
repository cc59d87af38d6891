// What travels through the image pipeline: jobs on `image-requests`, results on `image-results`,
// and the small messages a worker process exchanges with the supervisor that started it.

import { createHash } from 'node:crypto';

export const REQUEST_QUEUE = 'image-requests';
export const RESULT_QUEUE = 'image-results';
/** Short, so the demo shows a redelivery within seconds of a worker dying. */
export const REQUEST_VISIBILITY_TIMEOUT_SECONDS = 2;

export interface ImageJob {
  imageId: string;
  width: number;
  height: number;
  format: 'jpeg' | 'png' | 'webp';
  /** Stands in for the pixels: the simulated work hashes bytes derived from it. */
  seed: number;
}

export interface ImageResult {
  imageId: string;
  worker: string;
  /** CMQ dequeueCount of the request when this worker took it: 2 or more means a redelivery. */
  delivery: number;
  checksum: string;
  thumbWidth: number;
  thumbHeight: number;
  finishedAtMs: number;
}

/** Worker → supervisor. */
export type WorkerReport =
  | { type: 'ready'; worker: string }
  | { type: 'started'; worker: string; imageId: string; delivery: number };

/** Supervisor → worker: `go` lets a started job proceed; `stop` asks for a graceful exit. */
export type SupervisorCommand = { type: 'go'; imageId: string } | { type: 'stop' };

export function makeJob(i: number): ImageJob {
  const formats = ['jpeg', 'png', 'webp'] as const;
  return {
    imageId: `image-${String(i + 1).padStart(4, '0')}`,
    width: 640 + ((i * 397) % 3200),
    height: 480 + ((i * 211) % 2000),
    format: formats[i % formats.length] ?? 'jpeg',
    seed: 1000 + i * 7919,
  };
}

const THUMB_MAX = 128;

/** The simulated processing: a thumbnail size that keeps the aspect ratio and a checksum. */
export async function processImage(job: ImageJob): Promise<Omit<ImageResult, 'worker' | 'delivery' | 'finishedAtMs'>> {
  const scale = Math.min(THUMB_MAX / job.width, THUMB_MAX / job.height);
  const hash = createHash('sha256');
  const row = Buffer.alloc(Math.min(job.width, 4096));
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < row.length; x++) row[x] = (job.seed * 31 + x * 17 + y * 13) & 0xff;
    hash.update(row);
  }
  // "Work" takes 150-350 ms, so jobs overlap across workers.
  await new Promise((resolve) => setTimeout(resolve, 150 + (job.seed % 200)));
  return {
    imageId: job.imageId,
    checksum: hash.digest('hex').slice(0, 16),
    thumbWidth: Math.max(1, Math.round(job.width * scale)),
    thumbHeight: Math.max(1, Math.round(job.height * scale)),
  };
}
