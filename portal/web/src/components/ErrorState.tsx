import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Button from '@mui/material/Button';
import { errorMessage } from '../api/errors';

interface Props {
  title: string;
  error: unknown;
  onRetry?: () => void;
}

/** A load that failed: what failed, the portal's reason, and a retry. */
export function ErrorState({ title, error, onRetry }: Props) {
  return (
    <Alert
      severity="error"
      variant="outlined"
      action={
        onRetry && (
          <Button color="inherit" size="small" onClick={onRetry}>
            Try again
          </Button>
        )
      }
    >
      <AlertTitle>{title}</AlertTitle>
      {errorMessage(error)}
    </Alert>
  );
}
