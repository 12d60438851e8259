export interface BenchResult {
  name: string;
  value: number;
  unit: 'frames/s' | 'msgs/s' | 'rows/s' | 'deliveries/s' | 'ms';
  /** The raw limit measured in the same run, same unit. */
  baseline?: number;
  /** e.g. ">= 80% of baseline" */
  target?: string;
  details?: Record<string, number | string>;
}

export interface Benchmark {
  description: string;
  run(): Promise<BenchResult[]>;
}
