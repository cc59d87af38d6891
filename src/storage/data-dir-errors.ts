// Why a data directory could not be taken at start-up. Kept apart from data-dir.ts (which does
// the I/O) so the CLI can map these to exit codes without loading the storage code.

/** Another live process holds the directory's lock. Trying again after it stops will work. */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
}

/** The directory cannot hold a data directory at all: wrong path, wrong file system, read-only. */
export class DataDirUnusableError extends Error {
  override readonly name = 'DataDirUnusableError';
}
