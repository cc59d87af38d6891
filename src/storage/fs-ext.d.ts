// fs-ext ships no type declarations; this is the one function opencmq uses.
declare module 'fs-ext' {
  /** flock(2) on an open fd: 'exnb' = LOCK_EX|LOCK_NB (throws EAGAIN when held), 'un' = LOCK_UN. */
  export function flockSync(fd: number, flags: 'sh' | 'ex' | 'shnb' | 'exnb' | 'un'): void;
}
