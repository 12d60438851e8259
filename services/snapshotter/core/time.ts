import { MAX_TIME_US, parseTimeUs } from '../../common/time.js';

/** The exchange time of a message, or its receipt time when the string is not a usable time. */
export function messageTimeUs(time: string, recvUs: number): number {
  return parseTimeUs(time) ?? Math.min(Math.max(0, Math.floor(recvUs)), MAX_TIME_US - 1);
}

/** Start of the interval holding `us`, for an interval of `widthUs` aligned to the epoch. */
export function floorTo(us: number, widthUs: number): number {
  return Math.floor(us / widthUs) * widthUs;
}
