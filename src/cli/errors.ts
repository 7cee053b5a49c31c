// The one line a failed command prints. Every error ends up here, so this is where file-system
// errors that escaped their module ("EEXIST: file already exists, mkdir '…'") become sentences,
// and where nothing the user's files contain (escape sequences, NULs) can reach the terminal.

/** What an errno means for the path the user gave, in the words a user would use. */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or folder',
  EEXIST: 'already exists (as a file where a folder is needed, or the other way round)',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of this path is a file, not a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
  ELOOP: 'too many symbolic links',
  ENOTEMPTY: 'the folder is not empty',
  EBUSY: 'the file is busy',
  EINVAL: 'invalid argument',
};

/** Verb of the system call, so the line says what layerlock was doing. */
const SYSCALL_TEXT: Readonly<Record<string, string>> = {
  open: 'cannot open',
  read: 'cannot read',
  write: 'cannot write',
  mkdir: 'cannot create the folder',
  rename: 'cannot move a file into place at',
  link: 'cannot create',
  unlink: 'cannot remove',
  scandir: 'cannot list the folder',
  stat: 'cannot inspect',
  lstat: 'cannot inspect',
  copyfile: 'cannot copy',
  rmdir: 'cannot remove the folder',
  mkdtemp: 'cannot create a temporary folder',
};

interface ErrnoLike {
  code?: unknown;
  syscall?: unknown;
  path?: unknown;
  dest?: unknown;
}

/** Replaces control characters (and other invisible code points) with a visible escape. */
export function visible(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const hex = c.charCodeAt(0).toString(16).padStart(2, '0');
    return c.charCodeAt(0) < 0x100 ? `\\x${hex}` : `\\u${hex.padStart(4, '0')}`;
  });
}

/** "PATH: what went wrong" for a raw Node file-system error, or null for any other error. */
export function errnoLine(e: unknown): string | null {
  if (typeof e !== 'object' || e === null) return null;
  const { code, syscall, path, dest } = e as ErrnoLike;
  if (typeof code !== 'string' || typeof path !== 'string' || !/^E[A-Z]+$/.test(code)) return null;
  // mkdir's EEXIST (recursive mkdir over a file) is the common one: say which thing is in the way.
  if (code === 'EEXIST' && syscall === 'mkdir') return `${path} is a file, not a folder`;
  const what = ERRNO_TEXT[code] ?? code;
  const doing = typeof syscall === 'string' ? SYSCALL_TEXT[syscall] : undefined;
  // A rename's interesting path is where the file was going (the temp file is ours, not the user's).
  const target = typeof dest !== 'string' ? path : syscall === 'rename' ? dest : `${path} → ${dest}`;
  return doing ? `${doing} ${target}: ${what}` : `${target}: ${what}`;
}

/** The single line main() prints for a failure: first line only, file-system errors in words, no control bytes. */
export function errorLine(e: Error): string {
  const text = errnoLine(e) ?? e.message;
  const first = text.split(/\r\n|\n|\r/).find((l) => l.trim() !== '') ?? e.name;
  return visible(first.trim());
}
