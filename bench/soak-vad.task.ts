/**
 * The real VAD task for the soak benchmark, with one injected fault: when the file named by
 * SOAK_CRASH_FLAG exists, the worker that sees it removes it and dies mid-task (a worker crash).
 */
import { existsSync, rmSync } from 'node:fs';
import vadTask, { type VadTaskPayload, type VadTaskResult } from '../src/pipeline/vad/vad.task.js';

export default async function soakVadTask(payload: VadTaskPayload): Promise<VadTaskResult> {
  const flag = process.env.SOAK_CRASH_FLAG;
  if (flag && existsSync(flag)) {
    rmSync(flag, { force: true });
    process.exit(9);
  }
  return vadTask(payload);
}
