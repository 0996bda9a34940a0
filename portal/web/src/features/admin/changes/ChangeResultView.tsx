import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Link from '@mui/material/Link';
import { isUnchanged, type ProposeResult } from '../../../api/admin';

/** What a proposed change became: a pull request, a commit, or nothing (Git already had it). */
export function ChangeResultView({ result }: { result: ProposeResult }) {
  if (isUnchanged(result)) {
    return (
      <Alert severity="info" data-testid="change-result">
        <AlertTitle>Nothing to change</AlertTitle>
        {result.message}
      </Alert>
    );
  }
  const pr = result.mode === 'pull-request';
  return (
    <Alert severity="success" data-testid="change-result">
      <AlertTitle>{pr ? `Pull request${result.number ? ` #${result.number}` : ''} opened` : 'Committed'}</AlertTitle>
      {pr && result.url ? (
        <>
          Review and merge it:{' '}
          <Link href={result.url} target="_blank" rel="noopener noreferrer">
            {result.url}
          </Link>
          . The agent applies the change once it is merged.
        </>
      ) : (
        <>
          Commit <code>{result.commit?.slice(0, 12)}</code>
          {result.branch && (
            <>
              {' '}
              on <code>{result.branch}</code>
            </>
          )}
          . The agent applies it at its next sync.
        </>
      )}
      {result.file && (
        <>
          {' '}
          File: <code>{result.file}</code>.
        </>
      )}
      {(result.warnings ?? []).map((w) => (
        <Alert key={w} severity="warning" sx={{ mt: 1 }}>
          {w}
        </Alert>
      ))}
    </Alert>
  );
}
