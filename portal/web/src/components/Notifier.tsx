import Alert, { type AlertColor } from '@mui/material/Alert';
import Snackbar from '@mui/material/Snackbar';
import { createContext, useCallback, useContext, useState, type ReactNode } from 'react';

interface Notice {
  id: number;
  message: ReactNode;
  severity: AlertColor;
}

type Notify = (message: ReactNode, severity?: AlertColor) => void;

const NotifyContext = createContext<Notify>(() => {});

/** Snackbars for the results of actions, one at a time. */
export function NotifierProvider({ children }: { children: ReactNode }) {
  const [queue, setQueue] = useState<Notice[]>([]);
  const [open, setOpen] = useState(true);
  const notify = useCallback<Notify>((message, severity = 'success') => {
    setQueue((q) => [...q, { id: Date.now() + Math.random(), message, severity }]);
    setOpen(true);
  }, []);
  const current = queue[0];

  return (
    <NotifyContext.Provider value={notify}>
      {children}
      {current && (
        <Snackbar
          key={current.id}
          open={open}
          autoHideDuration={current.severity === 'error' ? 8000 : 4000}
          onClose={(_, reason) => reason !== 'clickaway' && setOpen(false)}
          slotProps={{ transition: { onExited: () => setQueue((q) => q.slice(1)) } }}
          anchorOrigin={{ vertical: 'bottom', horizontal: 'center' }}
        >
          <Alert severity={current.severity} variant="filled" onClose={() => setOpen(false)} sx={{ width: '100%' }}>
            {current.message}
          </Alert>
        </Snackbar>
      )}
    </NotifyContext.Provider>
  );
}

export function useNotify(): Notify {
  return useContext(NotifyContext);
}
