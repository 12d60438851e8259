import { afterAll } from 'vitest';
import { killAll } from './processes.js';

// Whatever a test file started and did not stop (a failed test, a forgotten stop())
// dies with the file, so the next file starts from a clean machine.
afterAll(() => killAll());
