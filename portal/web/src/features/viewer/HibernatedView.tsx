import BedtimeIcon from '@mui/icons-material/BedtimeOutlined';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Typography from '@mui/material/Typography';
import { Link } from 'react-router';
import { StatusPanel } from './StatusPanel';

/** The session went to sleep (idle) while it was open here. */
export function HibernatedView({ title, onWake }: { title: string; onWake: () => void }) {
  return (
    <StatusPanel label="Session hibernated">
      <Box sx={{ textAlign: 'center' }}>
        <BedtimeIcon color="primary" sx={{ fontSize: 48, mb: 1 }} aria-hidden />
        <Typography variant="h2" component="h1" gutterBottom>
          {title} is hibernating
        </Typography>
        <Typography color="textSecondary" sx={{ mb: 3 }}>
          It had no input for a while, so it was put to sleep to free its resources. Your files are kept. Wake it to continue where you left
          off.
        </Typography>
        <Box sx={{ display: 'flex', gap: 1, justifyContent: 'center' }}>
          <Button component={Link} to="/dashboard">
            Back to my sessions
          </Button>
          <Button variant="contained" onClick={onWake} autoFocus>
            Wake
          </Button>
        </Box>
      </Box>
    </StatusPanel>
  );
}
