import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import { ApiError, errorMessage } from '../../../api/errors';

interface Props {
  error: unknown;
  /** Field errors the form already shows next to its fields. */
  shownFields?: string[];
}

/** Why a change was not proposed, in the admin's terms. */
export function ChangeErrorView({ error, shownFields = [] }: Props) {
  if (error instanceof ApiError && error.status === 503) {
    return (
      <Alert severity="warning" data-testid="change-error">
        <AlertTitle>Write-back is not configured</AlertTitle>
        {error.message}
      </Alert>
    );
  }
  const title =
    error instanceof ApiError
      ? ((
          {
            400: 'The change is not valid',
            404: 'Not found in Git',
            409: 'Conflict in Git',
            502: 'The platform repository refused the change',
          } as Record<number, string>
        )[error.status] ?? 'The change was not proposed')
      : 'The change was not proposed';
  const fields = error instanceof ApiError ? Object.entries(error.fields).filter(([f]) => !shownFields.includes(f)) : [];
  return (
    <Alert severity="error" data-testid="change-error" sx={{ '& .MuiAlert-message': { minWidth: 0, overflowWrap: 'anywhere' } }}>
      <AlertTitle>{title}</AlertTitle>
      {errorMessage(error)}
      {fields.length > 0 && (
        <ul style={{ margin: '8px 0 0', paddingLeft: 20 }}>
          {fields.map(([field, msg]) => (
            <li key={field}>
              <code>{field}</code>: {msg}
            </li>
          ))}
        </ul>
      )}
    </Alert>
  );
}
