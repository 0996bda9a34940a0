import AppsIcon from '@mui/icons-material/Apps';
import DesktopWindowsIcon from '@mui/icons-material/DesktopWindowsOutlined';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import FormControlLabel from '@mui/material/FormControlLabel';
import Switch from '@mui/material/Switch';
import { useMemo, useRef, useState } from 'react';
import { Link } from 'react-router';
import { errorMessage } from '../../api/errors';
import { hibernateSession, listSessions, terminateSession, wakeSession } from '../../api/sessions';
import { listTemplates } from '../../api/templates';
import type { Session, Template } from '../../api/models';
import { useAuth } from '../../auth/AuthContext';
import { EmptyState } from '../../components/EmptyState';
import { useNotify } from '../../components/Notifier';
import { PageHeader } from '../../components/PageHeader';
import { CardGridSkeleton } from '../../components/PageSkeleton';
import { ResourceView } from '../../components/ResourceView';
import { useNow } from '../../hooks/useNow';
import { useResource } from '../../hooks/useResource';
import { isQuotaError, quotaMessage } from '../sessions/quotaMessage';
import { SessionCard } from '../sessions/SessionCard';
import { anyStarting, displayState, sortSessions } from '../sessions/sessionStatus';
import { QuotaSummary } from './QuotaSummary';
import { withRecentWrites, type RecentWrite } from './recentWrites';

/** Poll quickly while a session starts, so its steps show as they happen. */
export const pollInterval = (sessions: Session[] | undefined) => (anyStarting(sessions) ? 3000 : 15000);

export default function DashboardPage() {
  const { me, reload: reloadMe } = useAuth();
  const notify = useNotify();
  const now = useNow(15_000);
  // what the changes made here answered, until the portal's lists agree
  const recent = useRef(new Map<string, RecentWrite>());
  const fresh = (list: Session[] | undefined) => withRecentWrites(list, recent.current, Date.now());
  // an admin's list would hold everyone's sessions: this page is one's own
  const sessions = useResource((signal) => listSessions(signal, me.username), [me.username], {
    pollMs: (list) => pollInterval(fresh(list)),
  });
  const templates = useResource((signal) => listTemplates(signal), []);
  const [showEnded, setShowEnded] = useState(false);

  const byName = useMemo(() => new Map<string, Template>((templates.data ?? []).map((t) => [t.name, t])), [templates.data]);
  const all = useMemo(() => sortSessions(fresh(sessions.data) ?? []), [sessions.data]);
  const ended = all.filter((s) => displayState(s) === 'terminated');
  const shown = showEnded ? all : all.filter((s) => displayState(s) !== 'terminated');

  const replace = (updated: Session) => {
    recent.current.set(updated.name, { session: updated, at: Date.now() });
    sessions.setData((list) => list?.map((s) => (s.name === updated.name ? updated : s)));
  };

  const browseCatalog = (
    <Button variant="contained" component={Link} to="/catalog">
      Browse the catalog
    </Button>
  );

  const title = (s: Session) => byName.get(s.template)?.displayName ?? s.template;

  const wake = async (s: Session) => {
    try {
      replace(await wakeSession(s.name));
      notify(`Waking ${title(s)}…`, 'info');
      void sessions.reload();
      void reloadMe();
    } catch (err) {
      notify(isQuotaError(err) ? quotaMessage(err) : errorMessage(err), 'error');
    }
  };

  const hibernate = async (s: Session) => {
    try {
      replace(await hibernateSession(s.name));
      notify(`${title(s)} hibernates; wake it when you come back`, 'info');
      void sessions.reload();
      void reloadMe();
    } catch (err) {
      notify(errorMessage(err), 'error');
    }
  };

  const terminate = async (s: Session) => {
    replace(await terminateSession(s.name));
    notify(`${title(s)} terminated`);
    void sessions.reload();
    void reloadMe();
  };

  return (
    <>
      <PageHeader
        title="My sessions"
        subtitle={<QuotaSummary me={me} />}
        actions={
          <Button variant="contained" component={Link} to="/catalog" startIcon={<AppsIcon />}>
            Launch an app
          </Button>
        }
      />
      <ResourceView
        resource={sessions}
        errorTitle="Your sessions could not be loaded"
        loading={<CardGridSkeleton count={3} height={200} />}
        isEmpty={() => all.length === 0}
        empty={
          <EmptyState
            icon={<DesktopWindowsIcon />}
            title="No sessions yet"
            description="Pick an app from the catalog: it starts in a few seconds and streams right here in your browser. Your home folder follows you from session to session."
            action={browseCatalog}
          />
        }
      >
        {() => (
          <>
            {shown.length === 0 && <EmptyState icon={<DesktopWindowsIcon />} title="No active sessions" action={browseCatalog} />}
            <Box
              component="section"
              aria-label="Sessions"
              sx={{ display: 'grid', gap: 2, gridTemplateColumns: 'repeat(auto-fill, minmax(300px, 1fr))' }}
            >
              {shown.map((s) => (
                <SessionCard
                  key={s.name}
                  session={s}
                  template={byName.get(s.template)}
                  now={now}
                  onWake={wake}
                  onHibernate={hibernate}
                  onTerminate={terminate}
                />
              ))}
            </Box>
            {ended.length > 0 && (
              <FormControlLabel
                sx={{ mt: 2 }}
                control={<Switch checked={showEnded} onChange={(e) => setShowEnded(e.target.checked)} />}
                label={`Show ended sessions (${ended.length})`}
              />
            )}
          </>
        )}
      </ResourceView>
    </>
  );
}
