/**
 * A name or email of any length and direction: one line ending in an ellipsis when it does not
 * fit, the full value on hover (title) and to screen readers (the whole text stays in the
 * page), and isolated (<bdi>) so right-to-left text cannot reorder what sits next to it.
 */
export function LongText({ text, className }: { text: string; className?: string }) {
  return (
    <bdi className={className ? `truncate ${className}` : "truncate"} title={text}>
      {text}
    </bdi>
  );
}
