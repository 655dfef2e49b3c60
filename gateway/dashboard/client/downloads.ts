import type { Api } from './api.ts';
import { h } from './dom.ts';
import { bytes } from './format.ts';
import type { FileInfo } from './queries.ts';

/**
 * A link that downloads a file. Without an API key it is a plain link (the browser streams
 * the file to disk); with one, a link cannot carry the key, so a click fetches the file with
 * it and saves what came back.
 */
export function downloadLink(api: Api, file: FileInfo, label: string): HTMLElement {
  const link = h('a', { href: file.contentPath, download: file.filename, class: 'download', 'data-file': file.id }, label);
  link.addEventListener('click', async (event) => {
    if (!api.needsKeyForDownloads()) return;
    event.preventDefault();
    const blob = await (await api.send(file.contentPath)).blob();
    const url = URL.createObjectURL(blob);
    const save = h('a', { href: url, download: file.filename });
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  });
  return h('span', null, link, ` ${bytes(file.bytes)}${file.lines === null ? '' : `, ${file.lines} lines`}`);
}
