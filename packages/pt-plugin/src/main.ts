#!/usr/bin/env node
import { runManagedTransport } from '@sip003/sdk/pt';
import ptPlugin, { transportSpec } from './index.ts';

void runManagedTransport(ptPlugin, transportSpec).then((code) => process.exit(code));
