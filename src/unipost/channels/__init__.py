"""Built-in channels: the ones no platform outage can take away (site, email, webhook).

They register through ``unipost_register_channels`` like any third-party plugin.
"""
