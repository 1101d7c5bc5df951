import type { CSSProperties } from "react";
import type { Me } from "./api";

// A host's branding on its users' pages. The accent reaches the page as CSS custom properties
// set through React's `style` prop (the CSSOM), which the Content-Security-Policy allows; an
// inline <style> element it would refuse.

const HEX_COLOR = /^#[0-9a-f]{6}$/i;

export function isHexColor(value: string): boolean {
  return HEX_COLOR.test(value);
}

/** WCAG relative luminance of `#rrggbb`. */
function luminance(hex: string): number {
  const channels = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16) / 255);
  const [r = 0, g = 0, b = 0] = channels.map((c) =>
    c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4,
  );
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: number, b: number): number {
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}

/**
 * White or near-black, whichever reads better on the accent. One of the two always reaches
 * 4.5:1 on any colour, so a host's pale or dark accent never makes a button unreadable.
 */
export function textOnAccent(accent: string): string {
  const l = luminance(accent);
  const dark = "#101828";
  return contrast(l, 1) >= contrast(l, luminance(dark)) ? "#ffffff" : dark;
}

/** The custom properties that carry a host's accent (see the `.branded` rules in base.css). */
export function accentStyle(accentColor: string): CSSProperties {
  if (!isHexColor(accentColor)) return {};
  return {
    "--brand-accent": accentColor,
    "--brand-on-accent": textOnAccent(accentColor),
  } as CSSProperties;
}

/** What a host user's pages call the host: its display name, else the application's name. */
export function hostName(me: Me): string | undefined {
  const portal = me.portal;
  if (!portal) return undefined;
  return (
    portal.branding?.displayName ??
    me.applications.find((a) => a.id === portal.applicationId)?.name ??
    undefined
  );
}

/** An http(s) URL to link to, or undefined: a link's target is never `javascript:`. */
export function safeExternalUrl(url: string | null | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}
