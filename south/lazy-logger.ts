import type { Logger } from 'pino';
import type { OcppLogger } from '../ocpp/logger.js';

/**
 * A charger's logger (`chargerId` bound), made on its first line. A pino child per connection costs
 * hundreds of bytes, and most connections never log a line of their own.
 */
export class LazyChildLogger implements OcppLogger {
  private child: OcppLogger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly chargerId: string,
  ) {}

  private get logger(): OcppLogger {
    return (this.child ??= this.parent.child({ chargerId: this.chargerId }));
  }

  debug(obj: object, msg?: string): void {
    this.logger.debug(obj, msg);
  }

  info(obj: object, msg?: string): void {
    this.logger.info(obj, msg);
  }

  warn(obj: object, msg?: string): void {
    this.logger.warn(obj, msg);
  }

  error(obj: object, msg?: string): void {
    this.logger.error(obj, msg);
  }
}
