import AddIcon from '@mui/icons-material/Add';
import KeyIcon from '@mui/icons-material/KeyOutlined';
import Button from '@mui/material/Button';
import { createToken, listTokens, revokeToken } from '../../api/tokens';
import { EmptyState } from '../../components/EmptyState';
import { PageHeader } from '../../components/PageHeader';
import { TableSkeleton } from '../../components/PageSkeleton';
import { ResourceView } from '../../components/ResourceView';
import { TokenDialogs } from './TokenDialogs';
import { TokenTable } from './TokenTable';
import { useTokens } from './useTokens';

export default function TokensPage() {
  const flow = useTokens({ list: listTokens, create: createToken, revoke: revokeToken }, []);

  const newButton = (
    <Button variant="contained" startIcon={<AddIcon />} onClick={flow.startCreating}>
      New token
    </Button>
  );

  return (
    <>
      <PageHeader
        title="API tokens"
        subtitle="For scripts and automation that cannot sign in through a browser. A token acts with your rights."
        actions={newButton}
      />
      <ResourceView
        resource={flow.tokens}
        errorTitle="Your tokens could not be loaded"
        loading={<TableSkeleton rows={3} />}
        empty={
          <EmptyState
            icon={<KeyIcon />}
            title="No API tokens"
            description="Create one to use the StreamSpace API from a script or the command line."
            action={newButton}
          />
        }
      >
        {(tokens) => <TokenTable tokens={tokens} now={flow.now} onRevoke={flow.askRevoke} outlined />}
      </ResourceView>
      <TokenDialogs flow={flow} revokeDescription="Anything using this token loses access at once. This cannot be undone." />
    </>
  );
}
