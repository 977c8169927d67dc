/** Escaping for the attribute values of the TwiML / TeXML documents we answer carriers with. */
export function xmlAttr(value: string): string {
  return value.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}
