import SearchOffIcon from '@mui/icons-material/SearchOff';
import Button from '@mui/material/Button';
import { Link } from 'react-router';
import { EmptyState } from '../../components/EmptyState';

export default function NotFoundPage() {
  return (
    <EmptyState
      icon={<SearchOffIcon />}
      title="Page not found"
      description="There is nothing at this address."
      action={
        <Button variant="contained" component={Link} to="/dashboard">
          Go to my sessions
        </Button>
      }
    />
  );
}
