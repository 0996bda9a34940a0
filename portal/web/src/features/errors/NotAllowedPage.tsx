import BlockIcon from '@mui/icons-material/Block';
import Button from '@mui/material/Button';
import { Link } from 'react-router';
import { EmptyState } from '../../components/EmptyState';

export function NotAllowedPage() {
  return (
    <EmptyState
      icon={<BlockIcon />}
      title="Not allowed"
      description="This page is for administrators. If you need access, ask an administrator of StreamSpace to give your account the admin role."
      action={
        <Button variant="contained" component={Link} to="/dashboard">
          Go to my sessions
        </Button>
      }
    />
  );
}
