// Email through SMTP (nodemailer). STARTTLS is used whenever the server offers it
// (nodemailer upgrades opportunistically unless told not to); port 465 means implicit TLS.
// Every message has a plain-text and an HTML body.
import nodemailer from 'nodemailer';
import type { Notification } from '../../application/alert-ports.js';
import { AppError } from '../../application/errors.js';
import type { Channel } from './delivery.js';
import { type FormatOptions, actionFields, actionTitle, alertFields, alertTitle, containerLink, digestLines, digestTitle, summary } from './format.js';

export interface EmailOptions extends FormatOptions {
  host: string;
  port: number;
  user?: string;
  pass?: string;
  from: string;
  to: string[];
  /** Require STARTTLS (fail when the server does not offer it). Default false: use it when offered. */
  requireTls?: boolean;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function emailContent(n: Notification, o: FormatOptions): { subject: string; text: string; html: string } {
  switch (n.kind) {
    case 'alert': {
      const a = n.alert;
      const link = containerLink(a, o);
      const fields = alertFields(a);
      const tail = a.context?.logTail ?? [];
      const text = [a.message, '', ...fields.map(([k, v]) => `${k}: ${v}`),
        ...(tail.length ? ['', 'Last log lines:', ...tail] : []), ...(link ? ['', `Chart: ${link}`] : [])].join('\n');
      const html = `<h2>${esc(alertTitle(a))}</h2><p>${esc(a.message)}</p><table>${
        fields.map(([k, v]) => `<tr><th align="left">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>${
        tail.length ? `<h3>Last log lines</h3><pre>${esc(tail.join('\n'))}</pre>` : ''}${
        link ? `<p><a href="${esc(link)}">Open chart</a></p>` : ''}`;
      return { subject: alertTitle(a), text, html };
    }
    case 'digest': {
      const lines = digestLines(n.digest);
      return { subject: digestTitle(n.digest), text: lines.join('\n'),
        html: `<h2>${esc(digestTitle(n.digest))}</h2><ul>${lines.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>` };
    }
    case 'lifecycle':
      return { subject: summary(n), text: n.message, html: `<p>${esc(n.message)}</p>` };
    case 'action': {
      const a = n.action;
      const fields: [string, string][] = [...actionFields(a), ['Time', new Date(a.timestampMs).toISOString()]];
      return {
        subject: `Dockwatch ${actionTitle(a)}`,
        text: [a.message, '', ...fields.map(([k, v]) => `${k}: ${v}`)].join('\n'),
        html: `<h2>${esc(`Dockwatch ${actionTitle(a)}`)}</h2><p>${esc(a.message)}</p><table>${
          fields.map(([k, v]) => `<tr><th align="left">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`,
      };
    }
  }
}

export function createEmailChannel(opts: EmailOptions): Channel & { close(): void } {
  const transport = nodemailer.createTransport({
    host: opts.host,
    port: opts.port,
    secure: opts.port === 465,
    requireTLS: opts.requireTls ?? false,
    ...(opts.user ? { auth: { user: opts.user, pass: opts.pass ?? '' } } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return {
    name: 'email',
    async send(n) {
      const c = emailContent(n, opts);
      try {
        await transport.sendMail({ from: opts.from, to: opts.to, subject: c.subject, text: c.text, html: c.html });
      } catch (err) {
        const e = err as { responseCode?: number; message: string };
        // 4xx replies and connection trouble are transient; 5xx replies are final.
        const permanent = e.responseCode !== undefined && e.responseCode >= 500;
        throw new AppError(permanent ? 'INVALID_ARGUMENT' : 'UNAVAILABLE', `email: ${e.message}`, { cause: err });
      }
    },
    close: () => transport.close(),
  };
}
