import { createApiClient } from './client';

/** The app's one API client (one renewal in flight for the whole page). */
export const http = createApiClient();
