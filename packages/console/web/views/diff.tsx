// A unified diff rendered line by line (added, removed, hunk headers), loaded on demand from
// GET /v1/threads/{id}/diff. Text only: the diff is never interpreted as markup.
import { useState } from 'preact/hooks';
import { rawText } from '../api.ts';

export function DiffView(props: { threadId: string }) {
  const [diff, setDiff] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const load = async () => {
    try {
      setDiff(await rawText(`/v1/threads/${encodeURIComponent(props.threadId)}/diff`));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  if (diff === undefined) {
    return (
      <div>
        <button type="button" class="secondary" onClick={load}>
          Show diff
        </button>
        {error && <p class="error">{error}</p>}
      </div>
    );
  }
  return (
    <pre class="diff" aria-label="Unified diff">
      {diff.split('\n').map((line, i) => {
        const cls = line.startsWith('+++') || line.startsWith('---') ? 'file' : line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : line.startsWith('@@') ? 'hunk' : '';
        return (
          <span key={i} class={cls}>
            {line}
            {'\n'}
          </span>
        );
      })}
    </pre>
  );
}
