import { adapterUrl, section, tryUrl } from '../fields.ts';

const EXPECTED = 'sqlite:PATH or postgres://USER@HOST/DB';

/**
 * `sqlite:PATH` takes the rest of the string as a file path. `sqlite://...` is
 * refused rather than guessed at: whether `sqlite:///var/x.db` means
 * `/var/x.db` or `./var/x.db` differs between tools.
 */
function checkStoreUrl(s: string): string | undefined | false {
  if (s.startsWith('sqlite:')) {
    const path = s.slice('sqlite:'.length);
    if (path === '') return 'has no file path';
    if (path.startsWith('//')) return 'has "//" after sqlite: (write sqlite:/absolute/path or sqlite:./relative/path)';
    return undefined;
  }
  if (s.startsWith('postgres://') || s.startsWith('postgresql://')) {
    const url = tryUrl(s);
    if (!url) return 'is not a valid URL';
    if (url.hostname === '') return 'has no host';
    return undefined;
  }
  return false;
}

/** Where state is kept: one SQLite file by default, PostgreSQL to scale out. */
export const store = section({
  url: adapterUrl('store', EXPECTED, checkStoreUrl).prefault('sqlite:./data/sakimori.db'),
});
