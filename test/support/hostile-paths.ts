/**
 * Paths a caller may send to browse a storage's volume that must never reach the accessor
 * (src/service/storage-files.ts): traversal, empty and dot segments, network paths, backslashes,
 * NUL and control characters, percent-encoded escapes (single and double), overlong forms.
 */
export const HOSTILE_PATHS = [
  '..',
  '/..',
  '../etc/passwd',
  '/model/../../etc/passwd',
  'model/..',
  '/./model',
  'model/./README.txt',
  '//etc/passwd',
  '/model//README.txt',
  '\\etc\\passwd',
  '/model\\..\\..',
  '/model/README.txt\u0000.png',
  '/model/\n',
  '/model/%2e%2e/%2e%2e/etc/passwd',
  '%2e%2e%2fetc%2fpasswd',
  '/model/%252e%252e',
  '/%00',
  `/${'a'.repeat(256)}`,
  `/${'a/'.repeat(600)}`,
];
