"""DLHub SDK's dlhub_sdk.models.servables, on modelhub."""
