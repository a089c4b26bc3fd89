#!/usr/bin/env node
import { runMain } from '@sip003/sdk';
import obfsHttpPlugin from './index.ts';

void runMain(obfsHttpPlugin);
