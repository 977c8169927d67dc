/**
 * Cuts streamed LLM text into sentences for TTS: a sentence goes out as soon as its end mark and the
 * space after it have arrived, so the first one is spoken while the model still writes the rest.
 * Pure and synchronous: text in, finished sentences out.
 */
/** End of a sentence: . ! ? (or their CJK forms) and closing quotes, then whitespace; or a line break. */
const BOUNDARY = /[.!?\u3002\uff01\uff1f]["')\u201d\u2019]*\s+|\n+/g;
/** Shorter pieces wait for more ("Dr. ", "e.g. "), so a reply does not start with a fragment. */
const MIN_CHARS = 12;

export class SentenceSplitter {
  #buffer = '';

  /** Add text; returns the sentences it completed (trimmed, non-empty). */
  push(text: string): string[] {
    this.#buffer += text;
    const out: string[] = [];
    let start = 0;
    BOUNDARY.lastIndex = 0;
    for (let m = BOUNDARY.exec(this.#buffer); m !== null; m = BOUNDARY.exec(this.#buffer)) {
      const end = m.index + m[0].length;
      const sentence = this.#buffer.slice(start, end).trim();
      if (sentence.length < MIN_CHARS && m[0].indexOf('\n') < 0) continue;
      if (sentence !== '') out.push(sentence);
      start = end;
    }
    this.#buffer = this.#buffer.slice(start);
    return out;
  }

  /** The text left over at the end of the stream (may be ''). */
  end(): string {
    const rest = this.#buffer.trim();
    this.#buffer = '';
    return rest;
  }
}
