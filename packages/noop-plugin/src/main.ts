#!/usr/bin/env node
import { runMain } from '@sip003/sdk';
import noopPlugin from './index.ts';

void runMain(noopPlugin);
