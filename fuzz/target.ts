import type fc from 'fast-check';

/** One parser under fuzz: a name for the command line and the fast-check run over it. */
export interface FuzzTarget {
  readonly name: string;
  /** What a peer or a config reaches it through, for the listing. */
  readonly reaches: string;
  check(parameters: fc.Parameters<unknown>): fc.RunDetails<unknown>;
}
